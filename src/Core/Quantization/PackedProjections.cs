using System.Runtime.InteropServices;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Core.Kernels;
using static TorchSharp.torch;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace LlavaModal.Core.Quantization;

/// <summary>
/// Decode-sized products of one input with several packed layers at once: a layer's q/k/v projections, and the SwiGLU
/// MLP's gate/up (with <c>silu(gate) · up</c> and <c>down_proj</c> in the same call). Each layer keeps its own weights
/// and checkpoint name; only the call is fused: one conversion of the input, one pass over the kernel threads, one
/// output buffer. Anything else (a layer that is not packed, or wraps one; more tokens than the kernels take) returns
/// null and the caller runs the layers one by one.
/// </summary>
static class PackedProjections
{
    /// <summary>
    /// The outputs of <paramref name="layers"/> on <paramref name="x"/> [..., in], each [..., out_m] in x's dtype (views of
    /// one buffer), or null when the fused path does not apply.
    /// </summary>
    public static Tensor[]? Forward(ReadOnlySpan<nn.Module<Tensor, Tensor>> layers, Tensor x)
    {
        if (Packed(layers, x) is not { } packed) return null;
        using var scope = NewDisposeScope();
        int tokens = Tokens(packed[0], x);
        var y = Multiply(packed, x, tokens);
        var outputs = new Tensor[packed.Length];
        long offset = 0;
        for (int m = 0; m < packed.Length; m++)
        {
            int rows = packed[m].Weight.Rows;
            var part = y.narrow(0, offset, (long)tokens * rows).view(tokens, rows);
            offset += (long)tokens * rows;
            if (packed[m].Bias is { } bias) part.Plus_(bias.dtype == ScalarType.Float32 ? bias : bias.to(ScalarType.Float32));
            long[] shape = [.. x.shape[..^1], rows];
            var output = part.view(shape);
            outputs[m] = (x.dtype == ScalarType.Float32 ? output : output.to(x.dtype)).MoveToOuterDisposeScope();
        }
        return outputs;
    }

    /// <summary><c>down(silu(gate(x)) · up(x))</c> in one call, or null when the fused path does not apply (biased gate/up included).</summary>
    public static Tensor? SwiGlu(nn.Module<Tensor, Tensor> gate, nn.Module<Tensor, Tensor> up, nn.Module<Tensor, Tensor> down, Tensor x)
    {
        if (Packed([gate, up], x) is not { } packed || packed.Any(p => p.Bias is not null)) return null;
        if (down is not PackedLinear d || d.Weight.Columns != packed[0].Weight.Rows) return null;
        using var scope = NewDisposeScope();
        int tokens = Tokens(packed[0], x);
        int inner = packed[0].Weight.Rows;
        var y = Multiply(packed, x, tokens);
        var values = MemoryMarshal.Cast<byte, float>(y.bytes);
        var gated = values[..(tokens * inner)];
        var ups = values.Slice(tokens * inner, tokens * inner);
        // silu(g) · u = g · sigmoid(g) · u, in place over the gate half.
        var sigmoid = (scratch is { } b && b.Length >= ups.Length ? b : scratch = new float[ups.Length]).AsSpan(0, ups.Length);
        TensorPrimitives.Sigmoid(gated, sigmoid);
        TensorPrimitives.Multiply(gated, sigmoid, gated);
        TensorPrimitives.Multiply(gated, ups, gated);
        long[] shape = [.. x.shape[..^1], d.Weight.Rows];
        var output = empty(shape, ScalarType.Float32);
        unsafe
        {
            fixed (float* pg = gated)
            fixed (byte* po = output.bytes)
                MatMul.Multiply(d.Weight, pg, tokens, (float*)po, KernelIsas.Best, KernelPool.Shared);
        }
        if (d.Bias is { } bias) output.Plus_(bias.dtype == ScalarType.Float32 ? bias : bias.to(ScalarType.Float32));
        return (x.dtype == ScalarType.Float32 ? output : output.to(x.dtype)).MoveToOuterDisposeScope();
    }

    [ThreadStatic] static float[]? scratch;

    static PackedLinear[]? Packed(ReadOnlySpan<nn.Module<Tensor, Tensor>> layers, Tensor x)
    {
        if (x.requires_grad || x.device_type != TorchSharp.DeviceType.CPU) return null;
        var packed = new PackedLinear[layers.Length];
        for (int m = 0; m < layers.Length; m++)
        {
            if (layers[m] is not PackedLinear p || p.Weight.Columns != x.shape[^1]) return null;
            packed[m] = p;
        }
        return packed.Length > 0 && x.numel() / x.shape[^1] <= packed.Min(p => PackedLinear.RowKernelLimit(p.Format)) ? packed : null;
    }

    static int Tokens(PackedLinear first, Tensor x) => (int)(x.numel() / first.Weight.Columns);

    /// <summary>[tokens × Σ rows] f32: each matrix's [tokens, rows] outputs one after another.</summary>
    static Tensor Multiply(PackedLinear[] packed, Tensor x, int tokens)
    {
        var input = x.dtype == ScalarType.Float32 && x.is_contiguous() ? x : x.to(ScalarType.Float32).contiguous();
        var y = empty(tokens * packed.Sum(p => (long)p.Weight.Rows), ScalarType.Float32);
        unsafe
        {
            fixed (byte* px = input.bytes)
            fixed (byte* py = y.bytes)
                MatMul.MultiplyMany([.. packed.Select(p => p.Weight)], (float*)px, tokens, (float*)py, KernelIsas.Best, KernelPool.Shared);
        }
        return y;
    }
}
