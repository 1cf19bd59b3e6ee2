using static TorchSharp.torch;

namespace LlavaModal.Tests.Support;

public static class Parity
{
    /// <summary>‖ours − ref‖ / ‖ref‖ in float64.</summary>
    public static double RelativeError(Tensor ours, Tensor reference)
    {
        Assert.Equal(reference.shape, ours.shape);
        using var a = ours.to(ScalarType.Float64);
        using var b = reference.to(ScalarType.Float64);
        using var diff = (a - b).norm();
        using var refNorm = b.norm();
        return diff.item<double>() / refNorm.item<double>();
    }

    public static void AssertClose(Tensor ours, Tensor reference, double relative, string what)
    {
        var err = RelativeError(ours, reference);
        Assert.True(err <= relative, $"{what}: relative error {err:E3} exceeds {relative:E1}");
    }

    public static long[] Ids(Tensor t) => t.to(ScalarType.Int64).data<long>().ToArray();
}
