using LlavaModal.Abstractions.Tensors;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Core.Modules;

/// <summary>RMSNorm: <c>weight * x / sqrt(mean(x²) + eps)</c>, computed in float32 whatever the weights' dtype.</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly Parameter weight;
#pragma warning restore IDE1006
    readonly double eps;

    /// <summary>A norm of width <paramref name="size"/> (weight initialised to ones).</summary>
    public RmsNorm(long size, double eps, ScalarType dtype, Device? device = null) : base(nameof(RmsNorm))
    {
        weight = new Parameter(ones(size, dtype: dtype, device: device));
        this.eps = eps;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        bool f32 = x.dtype == ScalarType.Float32;
        var x32 = f32 ? x : x.to(ScalarType.Float32);
        var normed = x32 * x32.PowScalar(2).mean([-1], keepdim: true).AddScalar(eps).rsqrt();
        return (weight * (f32 ? normed : normed.to(x.dtype))).MoveToOuterDisposeScope();
    }
}
