using LlavaModal.Core.Modules;
using LlavaModal.Decoder.Llama;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Decoder;

public class RotaryEmbeddingTests
{
    static readonly LlamaConfig Config = new() { HeadDim = 16, HiddenSize = 64, NumAttentionHeads = 4, NumKeyValueHeads = 4, MaxPositionEmbeddings = 32 };

    /// <summary>The rotation angle of every frequency at one position, recovered from sin/cos.</summary>
    static double[] Angles(LlamaConfig config, long position, long sequenceLength)
    {
        var rope = new RotaryEmbedding(config.HeadDim, config.RopeTheta, config.RopeScaling, config.MaxPositionEmbeddings);
        using var pos = tensor(new[] { position }).reshape(1, 1);
        var (cos, sin) = rope.Compute(pos, sequenceLength, ScalarType.Float64);
        var c = cos.data<double>().ToArray();
        var s = sin.data<double>().ToArray();
        return Enumerable.Range(0, config.HeadDim / 2).Select(i => Math.Atan2(s[i], c[i])).ToArray();
    }

    static double Base(int i) => 1.0 / Math.Pow(10000, 2.0 * i / 16);

    [Fact]
    public void Default_angles_are_position_times_inverse_frequency()
    {
        var a = Angles(Config, 3, 4);
        for (int i = 0; i < 8; i++) Assert.Equal(Math.IEEERemainder(3 * Base(i), 2 * Math.PI), a[i], 5);
    }

    [Fact]
    public void Linear_scaling_divides_positions_by_the_factor()
    {
        var scaled = Angles(Config with { RopeScaling = new RopeScaling("linear", 2) }, 6, 7);
        var plain = Angles(Config, 3, 4);
        for (int i = 0; i < 8; i++) Assert.Equal(plain[i], scaled[i], 5);
    }

    [Fact]
    public void Dynamic_scaling_changes_nothing_within_the_context_and_rebases_beyond_it()
    {
        var dynamic = Config with { RopeScaling = new RopeScaling("dynamic", 2) };
        Assert.Equal(Angles(Config, 5, 20), Angles(dynamic, 5, 20));
        var beyond = Angles(dynamic, 5, 64);
        Assert.Equal(Angles(Config, 5, 64)[0], beyond[0], 6);              // the highest frequency is kept
        Assert.True(Math.Abs(beyond[7]) < Math.Abs(Angles(Config, 5, 64)[7])); // low frequencies slow down
    }

    [Fact]
    public void Llama3_scaling_keeps_high_frequencies_and_divides_low_ones()
    {
        var cfg = Config with { RopeScaling = new RopeScaling("llama3", 8, 1, 4, 64) };
        var scaled = Angles(cfg, 1, 2);
        // wavelength 2π/f: below 64/4 = 16 kept, above 64/1 = 64 divided by 8, between blended.
        for (int i = 0; i < 8; i++)
        {
            double f = Base(i), wavelength = 2 * Math.PI / f;
            if (wavelength < 16) Assert.Equal(f, scaled[i], 6);
            else if (wavelength > 64) Assert.Equal(f / 8, scaled[i], 6);
            else Assert.InRange(scaled[i], f / 8 - 1e-9, f + 1e-9);
        }
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void The_table_gives_the_computed_values_and_grows_past_its_first_size(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var rope = new RotaryEmbedding(64, 10000, new RopeScaling("llama3", 8, 1, 4, 64), 2048);
        // First a short forward (a table of 256 rows), then positions up to 700 in any order: the table doubles to 1024.
        foreach (var (positions, length) in new[] { (new long[] { 0, 1, 2, 3 }, 4L), (new long[] { 699, 5, 300, 256, 511 }, 700L) })
        {
            var ids = tensor(positions).view(1, -1);
            var (cos, sin) = rope.Compute(ids, length, dtype);
            var (expectedCos, expectedSin) = rope.Computed(ids, length, dtype);
            Assert.Equal(dtype, cos.dtype);
            Assert.Equal(new long[] { 1, positions.Length, 64 }, cos.shape);
            Assert.Equal(0.0, (cos.to(ScalarType.Float64) - expectedCos.to(ScalarType.Float64)).abs().max().item<double>(), 6);
            Assert.Equal(0.0, (sin.to(ScalarType.Float64) - expectedSin.to(ScalarType.Float64)).abs().max().item<double>(), 6);
        }
    }

    [Fact]
    public void The_table_serves_mrope_axes_as_the_computation_mixes_them()
    {
        using var scope = NewDisposeScope();
        var rope = new RotaryEmbedding(16, 10000, null, 2048, [2, 3, 3]);
        // Temporal, height and width positions that differ (an image grid), batch of 2.
        var ids = tensor(new long[] { 0, 1, 1, 1, 4, 5, 0, 0, 1, 1, 4, 5, 0, 0, 1, 2, 4, 5, 0, 1, 1, 1, 4, 5, 0, 0, 1, 1, 4, 5, 0, 0, 1, 2, 4, 5 }).view(3, 2, 6);
        var (cos, sin) = rope.Compute(ids, 6, ScalarType.Float32);
        var (expectedCos, expectedSin) = rope.Computed(ids, 6, ScalarType.Float32);
        Assert.Equal(new long[] { 2, 6, 16 }, cos.shape);
        Parity.AssertClose(cos, expectedCos, 1e-6, "cos");
        Parity.AssertClose(sin, expectedSin, 1e-6, "sin");
    }

    [Fact]
    public void Rotate_is_x_cos_plus_rotate_half_x_sin()
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(5);
        var x = randn([2, 3, 4, 16], generator: generator);
        var cos = randn([2, 1, 4, 16], generator: generator);
        var sin = randn([2, 1, 4, 16], generator: generator);
        var rotateHalf = cat([-x.narrow(-1, 8, 8), x.narrow(-1, 0, 8)], -1);
        var expected = x * cos + rotateHalf * sin;
        Parity.AssertClose(RotaryEmbedding.Rotate(x, cos, RotaryEmbedding.SignedSin(sin)), expected, 1e-7, "rotation");
    }
}
