using System.Runtime.CompilerServices;
using LlavaModal.Core.Kernels;
using static TorchSharp.torch;

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
    /// The products of <paramref name="packed"/> (one width) with <paramref name="x"/> [tokens, in], biases added:
    /// <paramref name="y"/> receives each layer's [tokens, out_m] one after another. A decode step's few tokens take all
    /// of them in one pass over the threads; more (a prompt) take each layer's own product in turn.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void Multiply(PackedLinear[] packed, float* x, int tokens, float* y)
    {
        bool rows = tokens <= RowKernelLimit(packed);
        if (rows) MatMul.MultiplyMany([.. packed.Select(p => p.Weight)], x, tokens, y, KernelIsas.Best, KernelPool.Shared);
        foreach (var layer in packed)
        {
            if (rows) layer.AddBias(y, tokens);
            else layer.Multiply(x, tokens, y);
            y += (long)tokens * layer.Weight.Rows;
        }
    }

    /// <summary>
    /// <c>down(silu(gate(x)) · up(x))</c> on the kernels for any number of tokens, or null when the fused path does not
    /// apply (layers not packed or wrapped, biased gate/up, autograd, a GPU).
    /// </summary>
    public static Tensor? SwiGlu(nn.Module<Tensor, Tensor> gate, nn.Module<Tensor, Tensor> up, nn.Module<Tensor, Tensor> down, Tensor x)
    {
        if (x.requires_grad || x.device_type != TorchSharp.DeviceType.CPU || !FusesSwiGlu(gate, up, down)) return null;
        var (g, u, d) = ((PackedLinear)gate, (PackedLinear)up, (PackedLinear)down);
        if (g.Weight.Columns != x.shape[^1]) return null;
        using var scope = NewDisposeScope();
        int tokens = Tokens(g, x);
        var input = Input(x);
        long[] shape = [.. x.shape[..^1], d.Weight.Rows];
        var output = empty(shape, ScalarType.Float32);
        unsafe
        {
            fixed (byte* px = input.bytes)
            fixed (byte* po = output.bytes)
                SwiGlu(g, u, d, (float*)px, tokens, (float*)po);
        }
        return (x.dtype == ScalarType.Float32 ? output : output.to(x.dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>Whether <see cref="SwiGlu(PackedLinear, PackedLinear, PackedLinear, float*, int, float*, float*)"/> computes these three layers: packed, gate and up unbiased, down as wide as they are tall.</summary>
    internal static bool FusesSwiGlu(nn.Module<Tensor, Tensor> gate, nn.Module<Tensor, Tensor> up, nn.Module<Tensor, Tensor> down) =>
        gate is PackedLinear g && up is PackedLinear u && down is PackedLinear d && g.Bias is null && u.Bias is null
        && g.Weight.Columns == u.Weight.Columns && g.Weight.Rows == u.Weight.Rows && d.Weight.Columns == g.Weight.Rows;

    /// <summary>Tokens a prompt's MLP takes at a time: the tiled product's own slice, whose gate and up outputs (and their product) stay in cache for <c>down</c>.</summary>
    const int PromptSlice = 256;

    /// <summary>Whether <paramref name="tokens"/> go through the row kernels (a decode step) rather than the prompt products.</summary>
    static bool RowTokens(PackedLinear gate, PackedLinear up, int tokens) =>
        tokens <= Math.Min(PackedLinear.RowKernelLimit(gate.Format), PackedLinear.RowKernelLimit(up.Format));

    /// <summary>
    /// Floats of room <see cref="SwiGlu(PackedLinear, PackedLinear, PackedLinear, float*, int, float*, float*)"/> needs for
    /// a prompt of <paramref name="tokens"/> (gate and up outputs of one slice); 0 for a decode step's few tokens.
    /// </summary>
    internal static long SwiGluRoom(PackedLinear gate, PackedLinear up, int tokens) =>
        RowTokens(gate, up, tokens) ? 0 : 2L * Math.Min(tokens, PromptSlice) * gate.Weight.Rows;

    /// <summary>
    /// <c>y = down(silu(gate(x)) · up(x))</c> on f32 rows (<paramref name="x"/> [tokens, in], <paramref name="y"/>
    /// [tokens, out]); the layers as <see cref="FusesSwiGlu"/> requires. A decode step's few tokens take gate and up in
    /// one pass over the row kernels; a prompt goes <see cref="PromptSlice"/> tokens at a time through the tiled product,
    /// so neither libtorch's SiLU and product nor a [tokens, inner] tensor is needed. A prompt's gate and up outputs go
    /// to <paramref name="room"/> (<see cref="SwiGluRoom"/> floats) when given, else to a libtorch buffer freed at once.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void SwiGlu(PackedLinear gate, PackedLinear up, PackedLinear down, float* x, int tokens, float* y, float* room = null)
    {
        int inner = gate.Weight.Rows, width = gate.Weight.Columns, outputs = down.Weight.Rows;
        bool rows = RowTokens(gate, up, tokens);
        int slice = rows ? tokens : Math.Min(tokens, PromptSlice);
        long length = 2L * slice * inner;
        // A step's buffer is kept by the thread; a prompt's (megabytes) is the caller's or libtorch's, given back at once.
        using var large = rows || room is not null ? null : empty(length, ScalarType.Float32);
        var kept = rows ? scratch is { } b && b.Length >= length ? b : scratch = new float[Math.Max(length, 2 * (scratch?.Length ?? 0))] : null;
        fixed (float* keptStart = kept)
        fixed (byte* largeStart = large is null ? default : large.bytes)
        {
            float* gated = rows ? keptStart : room is not null ? room : (float*)largeStart;
            float* ups = gated + (long)slice * inner;
            for (int t = 0; t < tokens; t += slice)
            {
                int n = Math.Min(slice, tokens - t);
                float* xs = x + (long)t * width;
                if (rows) MatMul.MultiplyMany([gate.Weight, up.Weight], xs, n, gated, KernelIsas.Best, KernelPool.Shared);
                else
                {
                    gate.Multiply(xs, n, gated);
                    up.Multiply(xs, n, ups);
                }
                // silu(g) · u = g · sigmoid(g) · u, in place over the gate's outputs.
                Exponentials.SiluTimes(gated, ups, (long)n * inner);
                down.Multiply(gated, n, y + (long)t * outputs);
            }
        }
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
        return packed.Length > 0 && x.numel() / x.shape[^1] <= RowKernelLimit(packed) ? packed : null;
    }

    /// <summary>Most tokens every one of <paramref name="packed"/> takes through its row kernels.</summary>
    static int RowKernelLimit(PackedLinear[] packed)
    {
        int limit = int.MaxValue;
        foreach (var layer in packed) limit = Math.Min(limit, PackedLinear.RowKernelLimit(layer.Format));
        return limit;
    }

    static int Tokens(PackedLinear first, Tensor x) => (int)(x.numel() / first.Weight.Columns);

    static Tensor Input(Tensor x) => x.dtype == ScalarType.Float32 && x.is_contiguous() ? x : x.to(ScalarType.Float32).contiguous();
}
