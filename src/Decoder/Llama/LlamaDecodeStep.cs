using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LlavaModal.Abstractions.Decoding;
using LlavaModal.Core.Attention;
using LlavaModal.Core.Kernels;
using LlavaModal.Core.Modules;
using LlavaModal.Core.Quantization;
using static TorchSharp.torch;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace LlavaModal.Decoder.Llama;

/// <summary>
/// One decode step through every layer in C#: <see cref="LlamaDecoderLayer"/>'s equations on raw f32 rows, one new
/// position per row, for models whose linear layers are packed (a weight format). Per layer:
/// <c>n = norm(h); q, k, v = n Wq, n Wk, n Wv (+ biases; Qwen3 norms each head); rotate q and k; write k and v into
/// the cache at the row's position; a = attention(q, cache); h += a Wo; h += down(silu(norm(h) Wgate) · norm(h) Wup)</c>.
/// The libtorch modules issue ~40 tensor operations a layer for the same step (views, rotation, cache copies,
/// residual adds), each dispatched, allocated and freed, which on a small model costs as much as its products; this
/// path issues none between the embeddings and the final norm. Anything it does not cover returns null and the modules
/// run: more than one position, autograd, a GPU, a plugin's attention kernel, layers that are not packed (LoRA), a
/// mask other than each row's own positions, or a row past a sliding window.
/// </summary>
static class LlamaDecodeStep
{
    /// <summary>Off only for A/B measurements and tests: decode steps then run the modules.</summary>
    internal static bool Enabled { get; set; } = true;

    static long taken;

    /// <summary>Steps run by this path since the process started (tests check that the path they compare was taken).</summary>
    internal static long Taken => Interlocked.Read(ref taken);

    /// <summary>The last hidden states [B, 1, hidden] (before the final norm) after running <paramref name="layers"/>, or null when this path does not apply.</summary>
    // Optimised at first call, as the kernels are: a process's first tokens would otherwise run these loops unoptimised.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static Tensor? TryRun(IList<LlamaDecoderLayer> layers, RotaryEmbedding rotary, int?[] windows, Tensor inputsEmbeds, Tensor positionIds, Tensor? padding, IKvCache? cache)
    {
        if (!Enabled || !DecodeAttention.Runs || cache is not IDirectKvCache direct || layers.Count == 0) return null;
        long[] shape = inputsEmbeds.shape;
        if (shape.Length != 3 || shape[1] != 1 || shape[0] != direct.Count || inputsEmbeds.dtype != ScalarType.Float32
            || inputsEmbeds.device_type != TorchSharp.DeviceType.CPU || is_grad_enabled() && inputsEmbeds.requires_grad)
            return null;
        int rows = direct.Count, hidden = (int)shape[2];
        var lengths = new long[rows];
        for (int b = 0; b < rows; b++) lengths[b] = direct.LengthOf(b);
        // A full cache is the modules' to refuse (with its error): this path writes where the lengths say.
        if (lengths.Max() + 1 > Math.Min(cache.Capacity, int.MaxValue) || !OwnPositions(padding, lengths) || !Covers(layers, windows, direct, rows, lengths.Max() + 1)) return null;

        using var scope = NewDisposeScope();
        var (cos, sin) = rotary.Compute(positionIds, cache.Length + 1, ScalarType.Float32);
        cos = cos.contiguous();
        sin = sin.contiguous();
        var h = inputsEmbeds.contiguous().clone();
        var first = direct.Slots(layers[0].SelfAttention.LayerIndex);
        int heads = layers[0].SelfAttention.Heads, kvHeads = (int)(first.RowStride / first.HeadStride), d = first.HeadDim;
        int queryWidth = heads * d, kvWidth = kvHeads * d;
        var positions = new int[rows];
        for (int b = 0; b < rows; b++) positions[b] = (int)lengths[b] + 1;
        double scale = 1 / Math.Sqrt(d);
        int needed = rows * (hidden + queryWidth + 2 * kvWidth + queryWidth + hidden);
        var buffer = scratch is { } s && s.Length >= needed ? s : scratch = new float[Math.Max(needed, 2 * (scratch?.Length ?? 0))];
        unsafe
        {
            fixed (float* start = buffer)
            fixed (byte* hb = h.bytes)
            fixed (byte* cb = cos.bytes)
            fixed (byte* sb = sin.bytes)
            {
                float* x = (float*)hb, normed = start, q = normed + rows * hidden, k = q + rows * queryWidth, v = k + rows * kvWidth;
                float* attended = v + rows * kvWidth, projected = attended + rows * queryWidth;
                for (int i = 0; i < layers.Count; i++)
                {
                    var layer = layers[i];
                    var self = layer.SelfAttention;
                    var (wq, wk, wv, wo) = self.Projections;
                    var slots = direct.Slots(self.LayerIndex);

                    layer.InputNorm.NormRows(x, normed, rows);
                    PackedProjections.Multiply([(PackedLinear)wq, (PackedLinear)wk, (PackedLinear)wv], normed, rows, q);
                    // q, k and v come out one matrix after another, [rows, heads · d] each: the views q.view(b, 1, heads, d) take.
                    if (self.HeadNorms is ({ } qNorm, { } kNorm))
                    {
                        qNorm.NormRows(q, q, rows * heads);
                        kNorm.NormRows(k, k, rows * kvHeads);
                    }
                    for (int b = 0; b < rows; b++)
                    {
                        float* c = (float*)cb + b * d, sn = (float*)sb + b * d;
                        for (int head = 0; head < heads; head++) Rotate(q + (b * heads + head) * d, c, sn, d);
                        for (int head = 0; head < kvHeads; head++)
                        {
                            float* key = k + (b * kvHeads + head) * d;
                            Rotate(key, c, sn, d);
                            slots.Write(b, head, lengths[b], new ReadOnlySpan<float>(key, d), new ReadOnlySpan<float>(v + (b * kvHeads + head) * d, d));
                        }
                    }
                    DecodeAttention.Attend(q, heads, slots, positions, scale, attended, KernelPool.Shared);
                    ((PackedLinear)wo).Multiply(attended, rows, projected);
                    Add(x, projected, rows * hidden);

                    layer.PostAttentionNorm.NormRows(x, normed, rows);
                    var (gate, up, down) = layer.Mlp.Projections;
                    PackedProjections.SwiGlu((PackedLinear)gate, (PackedLinear)up, (PackedLinear)down, normed, rows, projected);
                    Add(x, projected, rows * hidden);
                }
            }
        }
        Interlocked.Increment(ref taken);
        return h.MoveToOuterDisposeScope();
    }

    [ThreadStatic] static float[]? scratch;

    /// <summary>
    /// Whether every layer is one this path computes for <paramref name="rows"/> rows attending to up to
    /// <paramref name="longest"/> positions: f32 norms, a built-in attention kernel, packed q/k/v/o of the widths the
    /// cache holds, a packed SwiGLU, each row within the layer's window, and a cache of f32, f16 or bf16.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static bool Covers(IList<LlamaDecoderLayer> layers, int?[] windows, IDirectKvCache cache, int rows, long longest)
    {
        for (int i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            var self = layer.SelfAttention;
            if (windows[i] is int w && longest > w) return false;
            if (self.Kernel is not (EagerAttention or SdpaAttention) || !layer.InputNorm.NormsRows || !layer.PostAttentionNorm.NormsRows) return false;
            if (self.HeadNorms is var (qNorm, kNorm) && (qNorm is not null && !qNorm.NormsRows || kNorm is not null && !kNorm.NormsRows || (qNorm is null) != (kNorm is null))) return false;
            var slots = cache.Slots(self.LayerIndex);
            if (slots.DType is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16)) return false;
            int d = slots.HeadDim, kvHeads = (int)(slots.RowStride / slots.HeadStride);
            var (q, k, v, o) = self.Projections;
            if (q is not PackedLinear pq || k is not PackedLinear pk || v is not PackedLinear pv || o is not PackedLinear po) return false;
            int hidden = pq.Weight.Columns;
            if (pq.Weight.Rows != self.Heads * d || pk.Weight.Rows != kvHeads * d || pv.Weight.Rows != kvHeads * d || self.Heads % kvHeads != 0
                || pk.Weight.Columns != hidden || pv.Weight.Columns != hidden || po.Weight.Columns != self.Heads * d || po.Weight.Rows != hidden)
                return false;
            var (gate, up, down) = layer.Mlp.Projections;
            if (!PackedProjections.FusesSwiGlu(gate, up, down) || ((PackedLinear)down).Weight.Rows != hidden) return false;
            if (!RowKernelsTake(rows, pq, pk, pv, po, (PackedLinear)gate, (PackedLinear)up, (PackedLinear)down)) return false;
        }
        return true;
    }

    /// <summary>Whether <paramref name="rows"/> tokens go through every one of <paramref name="layers"/>' row kernels (the products this path calls).</summary>
    static bool RowKernelsTake(int rows, params ReadOnlySpan<PackedLinear> layers)
    {
        foreach (var layer in layers)
            if (rows > PackedLinear.RowKernelLimit(layer.Format)) return false;
        return true;
    }

    /// <summary>
    /// Whether <paramref name="padding"/> lets each row see exactly its own cached positions and the new one (what the
    /// generation engine passes for rows of unequal length); null lets every row see all of them, which is the same when
    /// they are of equal length.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static bool OwnPositions(Tensor? padding, long[] lengths)
    {
        long longest = lengths.Max();
        if (padding is null) return lengths.All(l => l == longest);
        if (padding.dim() != 2 || padding.shape[0] != lengths.Length || padding.shape[1] != longest + 1 || padding.device_type != TorchSharp.DeviceType.CPU) return false;
        using var flags = padding.to(ScalarType.Bool).contiguous();
        var bytes = flags.bytes;
        for (int b = 0; b < lengths.Length; b++)
            for (long j = 0; j <= longest; j++)
                if ((bytes[(int)(b * (longest + 1) + j)] != 0) != (j <= lengths[b])) return false;
        return true;
    }

    /// <summary>
    /// <c>x · cos + rotate_half(x) · sin</c> in place on one head, as <see cref="RotaryEmbedding.Rotate"/> computes it
    /// (libtorch's <c>addcmul</c> fuses its multiply-add): the first half becomes <c>fma(−x₂, sin₁, x₁ cos₁)</c>, the
    /// second <c>fma(x₁, sin₂, x₂ cos₂)</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Rotate(float* x, float* cos, float* sin, int d)
    {
        int half = d / 2, i = 0;
        for (; i + Vector256<float>.Count <= half; i += Vector256<float>.Count)
        {
            var x1 = Vector256.Load(x + i);
            var x2 = Vector256.Load(x + half + i);
            Vector256.FusedMultiplyAdd(-x2, Vector256.Load(sin + i), x1 * Vector256.Load(cos + i)).Store(x + i);
            Vector256.FusedMultiplyAdd(x1, Vector256.Load(sin + half + i), x2 * Vector256.Load(cos + half + i)).Store(x + half + i);
        }
        for (; i < half; i++)
        {
            float x1 = x[i], x2 = x[half + i];
            x[i] = MathF.FusedMultiplyAdd(-x2, sin[i], x1 * cos[i]);
            x[half + i] = MathF.FusedMultiplyAdd(x1, sin[half + i], x2 * cos[half + i]);
        }
    }

    static unsafe void Add(float* x, float* y, int count) =>
        TensorPrimitives.Add(new ReadOnlySpan<float>(x, count), new ReadOnlySpan<float>(y, count), new Span<float>(x, count));
}
