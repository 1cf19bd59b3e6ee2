using LlavaModal.Core.Kernels;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Core.Kernels;

public class GemmTests
{
    public static TheoryData<KernelIsa, WeightFormat> Paths()
    {
        var data = new TheoryData<KernelIsa, WeightFormat>();
        foreach (var isa in Enum.GetValues<KernelIsa>())
            foreach (var format in Enum.GetValues<WeightFormat>()) data.Add(isa, format);
        return data;
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Every_tile_matches_a_float64_product_of_the_stored_weights_on_ragged_shapes(KernelIsa isa, WeightFormat format)
    {
        if (!KernelIsas.IsSupported(isa))
        {
            using var tiny = PackedMatrix.Pack(format, 1, 32, new float[32]);
            Assert.Throws<ArgumentException>(() => Gemm.Multiply(tiny, new float[32], 1, new float[1], isa));
            return;
        }
        using var pool = new KernelPool(3);
        // Widths past one depth chunk (256) and ragged ones (float formats); rows short of, equal to and past a panel;
        // token counts short of a tile, past one token block (128) and ragged.
        int[] widths = format.IsQuantized() ? [32, 288, 544] : [1, 31, 257, 544];
        foreach (int columns in widths)
            foreach (int rows in new[] { 1, 33, 70 })
            {
                using var scope = NewDisposeScope();
                var values = randn([rows, columns], generator: new Generator((ulong)(rows * 1000 + columns))).data<float>().ToArray();
                using var packed = PackedMatrix.Pack(format, rows, columns, values);
                using var weights = KernelReference.Weights(packed).to(ScalarType.Float64);
                foreach (int tokens in new[] { 1, 7, 9, 131, 300 })
                {
                    var x = randn([tokens, columns], generator: new Generator((ulong)tokens));
                    var y = new float[tokens * rows];
                    Gemm.Multiply(packed, x.data<float>().ToArray(), tokens, y, isa, pool);
                    Parity.AssertClose(tensor(y, [tokens, rows]), x.to(ScalarType.Float64).matmul(weights.t()), 2e-6,
                        $"{isa} {format.Name()} [{rows}, {columns}] x {tokens} tokens");
                }
            }
    }

    [Fact]
    public void Sizes_that_do_not_fit_the_matrix_are_named()
    {
        using var packed = PackedMatrix.Pack(WeightFormat.F32, 3, 4, new float[12]);
        var error = Assert.Throws<ArgumentException>(() => Gemm.Multiply(packed, new float[7], 2, new float[6]));
        Assert.Contains("2 x 4", error.Message);
        error = Assert.Throws<ArgumentException>(() => Gemm.Multiply(packed, new float[8], 2, new float[5]));
        Assert.Contains("2 x 3", error.Message);
    }
}
