using LlavaModal.Core.Modules;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Core.Modules;

public class RmsNormTests
{
    /// <summary>The equation written out with torch in float64.</summary>
    static Tensor Reference(Tensor x, Tensor weight, double eps)
    {
        var x64 = x.to(ScalarType.Float64);
        return weight.to(ScalarType.Float64) * x64 * (x64.pow(2).mean([-1], keepdim: true) + eps).rsqrt();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(8)]
    [InlineData(9)]
    [InlineData(40)]
    public void Decode_rows_in_csharp_and_longer_inputs_in_torch_compute_the_same_norm(int rows)
    {
        // Contiguous f32 rows take the C# path (any count), views the torch operations: both against the equation.
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var norm = new RmsNorm(96, 1e-6, ScalarType.Float32);
        var weight = randn(96, generator: new Generator(3));
        norm.named_parameters().Single().parameter.copy_(weight);
        var x = randn([1, rows, 96], generator: new Generator((ulong)rows)) * 3;
        var y = norm.forward(x);
        Assert.Equal(x.shape, y.shape);
        Assert.Equal(ScalarType.Float32, y.dtype);
        Parity.AssertClose(y, Reference(x, weight, 1e-6), 1e-6, $"{rows} rows");
        // A view that is not contiguous goes through torch and gives the same rows.
        var strided = cat([x, x], -1)[.., .., TensorIndex.Slice(0, 192, 2)];
        Parity.AssertClose(norm.forward(strided), Reference(strided.contiguous(), weight, 1e-6), 1e-6, $"{rows} strided rows");
    }

    [Fact]
    public void Training_keeps_the_torch_path_so_gradients_reach_the_weight()
    {
        using var scope = NewDisposeScope();
        using var norm = new RmsNorm(32, 1e-6, ScalarType.Float32);
        var x = randn([1, 1, 32], generator: new Generator(5));
        norm.forward(x).sum().backward();
        var grad = norm.named_parameters().Single().parameter.grad;
        Assert.NotNull(grad);
        Assert.True(grad!.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void A_frozen_norm_still_passes_gradients_to_its_input()
    {
        // Stage 1 training: the decoder's norms are frozen, the projector's outputs flowing through them are not.
        using var scope = NewDisposeScope();
        using var norm = new RmsNorm(32, 1e-6, ScalarType.Float32);
        norm.named_parameters().Single().parameter.requires_grad_(false);
        var x = randn([1, 40, 32], generator: new Generator(6)).requires_grad_();
        norm.forward(x).sum().backward();
        Assert.NotNull(x.grad);
        Assert.True(x.grad!.abs().sum().item<float>() > 0);
    }
}
