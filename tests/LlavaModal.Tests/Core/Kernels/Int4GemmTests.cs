using LlavaModal.Core.Kernels;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Core.Kernels;

public class Int4GemmTests
{
    static unsafe float[] Multiply(PackedMatrix w, float[] x, int tokens, KernelIsa isa, KernelPool pool)
    {
        var y = new float[tokens * w.Rows];
        fixed (float* px = x)
        fixed (float* py = y)
            Int4Gemm.Multiply(w, px, tokens, py, isa, pool);
        return y;
    }

    public static TheoryData<KernelIsa> Tiles() => [KernelIsa.Avx512, KernelIsa.Avx2];

    /// <summary>Whether <paramref name="isa"/>'s tile runs here; where it does not, the product must refuse it by name.</summary>
    static bool Runs(KernelIsa isa)
    {
        using var tiny = PackedMatrix.Pack(WeightFormat.Int4, 1, 32, new float[32]);
        if (KernelIsas.IsSupported(isa)) return Int4Gemm.Serves(tiny, isa);
        var error = Assert.Throws<ArgumentException>(() => Multiply(tiny, new float[32], 1, isa, KernelPool.Shared));
        Assert.Contains("not supported here", error.Message);
        return false;
    }

    [Theory]
    [MemberData(nameof(Tiles))]
    public void Prompt_products_match_the_reference_on_ragged_shapes(KernelIsa isa)
    {
        if (!Runs(isa)) return;
        using var pool = new KernelPool(3);
        // Block counts 1, 9, 17, 64; rows short of, equal to and past a panel (8 or 16); tokens short of and past a tile
        // of 4, and past a slice of 256 (the rounded activations are made a slice at a time).
        foreach (int columns in new[] { 32, 288, 544, 2048 })
            foreach (int rows in new[] { 1, 8, 16, 37 })
            {
                using var scope = NewDisposeScope();
                var values = randn([rows, columns], generator: new Generator((ulong)(rows * 1000 + columns))).data<float>().ToArray();
                using var packed = PackedMatrix.Pack(WeightFormat.Int4, rows, columns, values);
                foreach (int tokens in new[] { 1, 3, 4, 9, 300 })
                {
                    var x = randn([tokens, columns], generator: new Generator((ulong)(tokens + columns)));
                    var y = Multiply(packed, x.data<float>().ToArray(), tokens, isa, pool);
                    Parity.AssertClose(tensor(y, [tokens, rows]), KernelReference.Product(packed, x), 2e-6, $"{isa} int4 [{rows}, {columns}] x {tokens} tokens");
                }
            }
    }

    [Theory]
    [MemberData(nameof(Tiles))]
    public void The_largest_block_sums_do_not_saturate(KernelIsa isa)
    {
        if (!Runs(isa)) return;
        using var pool = new KernelPool(2);
        // One value per block at -8 steps, the rest at +7: 31 of a block's 32 stored nibbles are 15 (0 for the other), and
        // with every activation rounded to ±127 a row's int16 lanes reach 16 · 15 · 127 = 30,480, the most they can.
        foreach (float sign in new[] { 1f, -1f })
        {
            var values = new float[17 * 64];
            for (int i = 0; i < values.Length; i++) values[i] = sign * (i % 32 == 0 ? -8f : 7f);
            using var packed = PackedMatrix.Pack(WeightFormat.Int4, 17, 64, values);
            int fifteens = packed.Data.ToArray().Sum(b => ((b & 15) == 15 ? 1 : 0) + ((b >> 4) == 15 ? 1 : 0));
            Assert.Equal(17 * 2 * 31, fifteens);
            foreach (float activation in new[] { 3f, -3f })
            {
                var x = Enumerable.Repeat(activation, 5 * 64).ToArray();
                var y = Multiply(packed, x, 5, isa, pool);
                Parity.AssertClose(tensor(y, [5, 17]), KernelReference.Product(packed, tensor(x, [5, 64])), 2e-6, $"{isa} weights {sign}, activations {activation}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Tiles))]
    public void A_block_holding_nan_gives_nan_for_its_token_only(KernelIsa isa)
    {
        if (!Runs(isa)) return;
        using var pool = new KernelPool(2);
        var values = randn([20, 64], generator: new Generator(3)).data<float>().ToArray();
        using var packed = PackedMatrix.Pack(WeightFormat.Int4, 20, 64, values);
        var x = randn([5, 64], generator: new Generator(4)).data<float>().ToArray();
        x[2 * 64 + 40] = float.NaN;
        var y = Multiply(packed, x, 5, isa, pool);
        for (int t = 0; t < 5; t++)
            for (int r = 0; r < 20; r++)
                Assert.Equal(t == 2, float.IsNaN(y[t * 20 + r]));
    }

    [Fact]
    public void Other_formats_and_ragged_widths_are_refused_by_name()
    {
        using var int8 = PackedMatrix.Pack(WeightFormat.Int8, 2, 64, new float[128]);
        Assert.False(Int4Gemm.Serves(int8, KernelIsa.Avx512));
        using var int4 = PackedMatrix.Pack(WeightFormat.Int4, 2, 64, new float[128]);
        Assert.False(Int4Gemm.Serves(int4, KernelIsa.Scalar));
        var error = Assert.Throws<ArgumentException>(() => Multiply(int8, new float[64], 1, KernelIsas.Best, KernelPool.Shared));
        Assert.Contains("int8", error.Message);
    }
}
