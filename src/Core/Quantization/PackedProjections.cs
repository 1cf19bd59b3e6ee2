using System.Runtime.CompilerServices;
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
        var input = Input(x);
        var y = empty(tokens * packed.Sum(p => (long)p.Weight.Rows), ScalarType.Float32);
        unsafe
        {
            fixed (byte* px = input.bytes)
            fixed (byte* py = y.bytes)
                Multiply(packed, (float*)px, tokens, (float*)py);
        }
        var outputs = new Tensor[packed.Length];
        long offset = 0;
        for (int m = 0; m < packed.Length; m++)
        {
            int rows = packed[m].Weight.Rows;
            long[] shape = [.. x.shape[..^1], rows];
            var output = y.narrow(0, offset, (long)tokens * rows).view(shape);
            offset += (long)tokens * rows;
            outputs[m] = (x.dtype == ScalarType.Float32 ? output : output.to(x.dtype)).MoveToOuterDisposeScope();
        }
        return outputs;
    }

    /// <summary>
    /// The products of <paramref name="packed"/> (one width) with <paramref name="x"/> [tokens, in] in one pass over the
    /// threads, biases added: <paramref name="y"/> receives each layer's [tokens, out_m] one after another.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void Multiply(PackedLinear[] packed, float* x, int tokens, float* y)
    {
        MatMul.MultiplyMany([.. packed.Select(p => p.Weight)], x, tokens, y, KernelIsas.Best, KernelPool.Shared);
        foreach (var layer in packed)
        {
            layer.AddBias(y, tokens);
            y += (long)tokens * layer.Weight.Rows;
        }
    }

    /// <summary><c>down(silu(gate(x)) · up(x))</c> in one call, or null when the fused path does not apply (biased gate/up included).</summary>
    public static Tensor? SwiGlu(nn.Module<Tensor, Tensor> gate, nn.Module<Tensor, Tensor> up, nn.Module<Tensor, Tensor> down, Tensor x)
    {
        if (Packed([gate, up], x) is not { } packed || !FusesSwiGlu(packed[0], packed[1], down)) return null;
        using var scope = NewDisposeScope();
        int tokens = Tokens(packed[0], x);
        var input = Input(x);
        var d = (PackedLinear)down;
        long[] shape = [.. x.shape[..^1], d.Weight.Rows];
        var output = empty(shape, ScalarType.Float32);
        unsafe
        {
            fixed (byte* px = input.bytes)
            fixed (byte* po = output.bytes)
                SwiGlu(packed[0], packed[1], d, (float*)px, tokens, (float*)po);
        }
        return (x.dtype == ScalarType.Float32 ? output : output.to(x.dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>Whether <see cref="SwiGlu(PackedLinear, PackedLinear, PackedLinear, float*, int, float*)"/> computes these three layers: packed, gate and up unbiased, down as wide as they are tall.</summary>
    internal static bool FusesSwiGlu(nn.Module<Tensor, Tensor> gate, nn.Module<Tensor, Tensor> up, nn.Module<Tensor, Tensor> down) =>
        gate is PackedLinear g && up is PackedLinear u && down is PackedLinear d && g.Bias is null && u.Bias is null
        && g.Weight.Columns == u.Weight.Columns && g.Weight.Rows == u.Weight.Rows && d.Weight.Columns == g.Weight.Rows;

    /// <summary>
    /// <c>y = down(silu(gate(x)) · up(x))</c> on f32 rows (<paramref name="x"/> [tokens, in], <paramref name="y"/>
    /// [tokens, out]) for a decode step's few tokens; the layers as <see cref="FusesSwiGlu"/> requires.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void SwiGlu(PackedLinear gate, PackedLinear up, PackedLinear down, float* x, int tokens, float* y)
    {
        int inner = gate.Weight.Rows;
        int length = 3 * tokens * inner;
        var buffer = scratch is { } b && b.Length >= length ? b : scratch = new float[Math.Max(length, 2 * (scratch?.Length ?? 0))];
        fixed (float* products = buffer)
        {
            MatMul.MultiplyMany([gate.Weight, up.Weight], x, tokens, products, KernelIsas.Best, KernelPool.Shared);
            var gated = new Span<float>(products, tokens * inner);
            var ups = new Span<float>(products + tokens * inner, tokens * inner);
            var sigmoid = new Span<float>(products + 2 * tokens * inner, tokens * inner);
            // silu(g) · u = g · sigmoid(g) · u, in place over the gate half.
            TensorPrimitives.Sigmoid(gated, sigmoid);
            TensorPrimitives.Multiply(gated, sigmoid, gated);
            TensorPrimitives.Multiply(gated, ups, gated);
            MatMul.Multiply(down.Weight, products, tokens, y, KernelIsas.Best, KernelPool.Shared);
        }
        down.AddBias(y, tokens);
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

    static Tensor Input(Tensor x) => x.dtype == ScalarType.Float32 && x.is_contiguous() ? x : x.to(ScalarType.Float32).contiguous();
}
