using LlavaModal.Core.Kernels;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Core.Kernels;

public class Int8GemmTests
{
    static unsafe float[] Multiply(PackedMatrix w, float[] x, int tokens, KernelIsa isa, KernelPool pool)
    {
        var y = new float[tokens * w.Rows];
        fixed (float* px = x)
        fixed (float* py = y)
            Int8Gemm.Multiply(w, px, tokens, py, isa, pool);
        return y;
    }

    /// <summary>Whether <paramref name="isa"/>'s tile runs here; where it does not, the product must refuse it by name.</summary>
    static bool Runs(KernelIsa isa)
    {
        using var tiny = PackedMatrix.Pack(WeightFormat.Int8, 1, 32, new float[32]);
        if (KernelIsas.IsSupported(isa)) return Int8Gemm.Serves(tiny, isa);
        var error = Assert.Throws<ArgumentException>(() => Multiply(tiny, new float[32], 1, isa, KernelPool.Shared));
        Assert.Contains("not supported here", error.Message);
        return false;
    }

    [Theory]
    [InlineData(KernelIsa.Avx512)]
    [InlineData(KernelIsa.Avx2)]
    public void Prompt_products_match_the_reference_on_ragged_shapes(KernelIsa isa)
    {
        if (!Runs(isa)) return;
        using var pool = new KernelPool(3);
        // Block counts 1, 9, 17, 64; rows short of, equal to and past a panel (8 on AVX2, 16 on AVX-512); tokens short of
        // and past a tile of 4, and past a slice of 256 (activations are rounded and widened a slice at a time).
        foreach (int columns in new[] { 32, 288, 544, 2048 })
            foreach (int rows in new[] { 1, 7, 8, 15, 16, 37 })
            {
                using var scope = NewDisposeScope();
                var values = randn([rows, columns], generator: new Generator((ulong)(rows * 1000 + columns))).data<float>().ToArray();
                using var packed = PackedMatrix.Pack(WeightFormat.Int8, rows, columns, values);
                foreach (int tokens in new[] { 1, 3, 4, 9, 300 })
                {
                    var x = randn([tokens, columns], generator: new Generator((ulong)(tokens + columns)));
                    var y = Multiply(packed, x.data<float>().ToArray(), tokens, isa, pool);
                    Parity.AssertClose(tensor(y, [tokens, rows]), KernelReference.Product(packed, x), 2e-6, $"{isa} int8 [{rows}, {columns}] x {tokens} tokens");
                }
            }
    }

    [Theory]
    [InlineData(KernelIsa.Avx512)]
    [InlineData(KernelIsa.Avx2)]
    public void The_largest_products_do_not_overflow(KernelIsa isa)
    {
        if (!Runs(isa)) return;
        using var pool = new KernelPool(2);
        // Every weight and activation rounded to ±127: each pair sums to ±32,258 (what vpmaddubsw could not hold) and a
        // block's int32 sum to ±516,128.
        foreach (float sign in new[] { 1f, -1f })
        {
            var values = Enumerable.Repeat(sign * 5f, 17 * 64).ToArray();
            using var packed = PackedMatrix.Pack(WeightFormat.Int8, 17, 64, values);
            Assert.All(packed.Data.ToArray(), b => Assert.Equal(127, Math.Abs((sbyte)b)));
            foreach (float activation in new[] { 3f, -3f })
            {
                var x = Enumerable.Repeat(activation, 5 * 64).ToArray();
                var y = Multiply(packed, x, 5, isa, pool);
                Parity.AssertClose(tensor(y, [5, 17]), KernelReference.Product(packed, tensor(x, [5, 64])), 2e-6, $"{isa} weights {sign}, activations {activation}");
                Assert.All(y, v => Assert.Equal(sign * activation * 5f * 64, v, 1f)); // f16 scales: within 0.1%
            }
        }
    }

    [Theory]
    [InlineData(KernelIsa.Avx512)]
    [InlineData(KernelIsa.Avx2)]
    public void A_block_holding_nan_gives_nan_for_its_token_only(KernelIsa isa)
    {
        if (!Runs(isa)) return;
        using var pool = new KernelPool(2);
        var values = randn([20, 64], generator: new Generator(3)).data<float>().ToArray();
        using var packed = PackedMatrix.Pack(WeightFormat.Int8, 20, 64, values);
        var x = randn([5, 64], generator: new Generator(4)).data<float>().ToArray();
        x[2 * 64 + 40] = float.NaN;
        var y = Multiply(packed, x, 5, isa, pool);
        for (int t = 0; t < 5; t++)
            for (int r = 0; r < 20; r++)
                Assert.Equal(t == 2, float.IsNaN(y[t * 20 + r]));
    }

    [Fact]
    public void Other_formats_instruction_sets_and_ragged_widths_are_refused_by_name()
    {
        using var int4 = PackedMatrix.Pack(WeightFormat.Int4, 2, 64, new float[128]);
        Assert.False(Int8Gemm.Serves(int4, KernelIsa.Avx512));
        using var int8 = PackedMatrix.Pack(WeightFormat.Int8, 2, 64, new float[128]);
        Assert.False(Int8Gemm.Serves(int8, KernelIsa.Scalar));
        using var ragged = PackedMatrix.Pack(WeightFormat.F32, 2, 40, new float[80]);
        Assert.False(Int8Gemm.Serves(ragged, KernelIsa.Avx2));
        var error = Assert.Throws<ArgumentException>(() => Multiply(int4, new float[64], 1, KernelIsa.Avx512, KernelPool.Shared));
        Assert.Contains("int4", error.Message);
        error = Assert.Throws<ArgumentException>(() => Multiply(int8, new float[64], 1, KernelIsa.Scalar, KernelPool.Shared));
        Assert.Contains("Scalar", error.Message);
    }
}
