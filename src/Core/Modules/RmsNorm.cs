using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LlavaModal.Abstractions.Tensors;
using TorchSharp.Modules;
using static TorchSharp.torch;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

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
        // f32 rows on the CPU are normed in C#: one pass and one tensor instead of six libtorch operations (prompts too: a
        // row's two passes stay in cache). Not where autograd must see it: a frozen norm still passes gradients to its input.
        if (x.dtype == ScalarType.Float32 && x.device_type == TorchSharp.DeviceType.CPU && NormsRows && x.is_contiguous() && !(x.requires_grad && is_grad_enabled()))
            return Direct(x);
        using var scope = NewDisposeScope();
        bool f32 = x.dtype == ScalarType.Float32;
        var x32 = f32 ? x : x.to(ScalarType.Float32);
        var normed = x32 * x32.PowScalar(2).mean([-1], keepdim: true).AddScalar(eps).rsqrt();
        return (weight * (f32 ? normed : normed.to(x.dtype))).MoveToOuterDisposeScope();
    }

    /// <summary>The same equation over f32 rows with <see cref="TensorPrimitives"/>: <c>w · (x · (1 / √(Σx² / n + eps)))</c>.</summary>
    Tensor Direct(Tensor x)
    {
        var y = empty_like(x);
        unsafe
        {
            fixed (byte* input = x.bytes)
            fixed (byte* output = y.bytes)
                NormRows((float*)input, (float*)output, (int)(x.numel() / weight.shape[0]));
        }
        return y;
    }

    /// <summary>Whether <see cref="NormRows"/> can run: an f32 weight on the CPU, not being trained.</summary>
    internal bool NormsRows => weight.dtype == ScalarType.Float32 && weight.device_type == TorchSharp.DeviceType.CPU && !(weight.requires_grad && is_grad_enabled());

    /// <summary><see cref="forward"/>'s arithmetic on <paramref name="rows"/> f32 rows of the norm's width (<paramref name="x"/> and <paramref name="y"/> may be the same); needs <see cref="NormsRows"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal unsafe void NormRows(float* x, float* y, int rows)
    {
        int width = (int)weight.shape[0];
        var w = MemoryMarshal.Cast<byte, float>(weight.bytes);
        for (int r = 0; r < rows; r++)
        {
            var row = new ReadOnlySpan<float>(x + (long)r * width, width);
            var target = new Span<float>(y + (long)r * width, width);
            float inverse = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(row) / width + (float)eps);
            TensorPrimitives.Multiply(row, inverse, target);
            TensorPrimitives.Multiply(target, w, target);
        }
    }
}
