using LlavaModal.Core.Modules;
using LlavaModal.Decoder.Llama;
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
}
