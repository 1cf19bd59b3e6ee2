using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LlavaModal.Abstractions.Decoding;
using LlavaModal.Core.Attention;
using LlavaModal.Core.Kernels;
using LlavaModal.Core.Modules;
using LlavaModal.Core.Native;
using LlavaModal.Core.Quantization;
using static TorchSharp.torch;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace LlavaModal.Decoder.Llama;

/// <summary>
/// The layers in C# on raw f32 rows, for models whose linear layers are packed (a weight format):
/// <see cref="LlamaDecoderLayer"/>'s equations, per layer <c>n = norm(h); q, k, v = n Wq, n Wk, n Wv (+ biases; Qwen3
/// norms each head); rotate q and k; write k and v into the cache at their positions; a = attention(q, cache); h += a Wo;
/// h += down(silu(norm(h) Wgate) · norm(h) Wup)</c>. Two shapes: a decode step (<see cref="TryStep"/>: B rows, one new
/// position each, each row attending over its own length) and a prompt piece (<see cref="TryPrompt"/>: one row, T new
/// positions, causal over the cached and new ones).
/// The libtorch modules issue ~40 tensor operations a layer for a decode step (views, rotation, cache copies, residual
/// adds), each dispatched, allocated and freed, which on a small model costs as much as its products; for a prompt they
/// allocate a dozen [T, hidden]-sized tensors a layer, which glibc's heap keeps and fragments (a 1.1B int8 prompt grew
/// the process by 210-350 MiB). This path issues none between the embeddings and the final norm: a step works in a
/// buffer the thread keeps, a prompt piece in one workspace mapped for it and given back after. Anything it does not
/// cover returns null and the modules run: autograd, a GPU, a plugin's attention kernel, layers that are not packed
/// (LoRA), a mask other than each row's own positions (padding), a row past a sliding window; also a step of more rows
/// than the row kernels take, and a prompt of several rows.
/// </summary>
static class LlamaKernelLayers
{
    /// <summary>Off only for A/B measurements and tests: decode steps then run the modules.</summary>
    internal static bool StepsEnabled { get; set; } = true;

    /// <summary>Off only for A/B measurements and tests: prompt pieces then run the modules.</summary>
    internal static bool PromptsEnabled { get; set; } = true;

    static long steps, pieces;

    /// <summary>Decode steps run by this path since the process started (tests check that the path they compare was taken).</summary>
    internal static long StepsTaken => Interlocked.Read(ref steps);

    /// <summary>Prompt pieces run by this path since the process started.</summary>
    internal static long PiecesTaken => Interlocked.Read(ref pieces);

    /// <summary>The last hidden states [B, 1, hidden] (before the final norm) of a decode step through <paramref name="layers"/>, or null when this path does not apply.</summary>
    // Optimised at first call, as the kernels are: a process's first tokens would otherwise run these loops unoptimised.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static Tensor? TryStep(IList<LlamaDecoderLayer> layers, RotaryEmbedding rotary, int?[] windows, Tensor inputsEmbeds, Tensor positionIds, Tensor? padding, IKvCache? cache)
    {
        if (!StepsEnabled || !DecodeAttention.Runs || cache is not IDirectKvCache direct || layers.Count == 0 || !Takes(inputsEmbeds)) return null;
        long[] shape = inputsEmbeds.shape;
        if (shape[1] != 1 || shape[0] != direct.Count) return null;
        int rows = direct.Count;
        var lengths = new long[rows];
        for (int b = 0; b < rows; b++) lengths[b] = direct.LengthOf(b);
        // A full cache is the modules' to refuse (with its error): this path writes where the lengths say.
        if (lengths.Max() + 1 > Math.Min(cache.Capacity, int.MaxValue) || !OwnPositions(padding, lengths) || !Covers(layers, windows, direct, rows, lengths.Max() + 1, prompt: false)) return null;

        var widths = Widths.Of(layers, direct, (int)shape[2]);
        long needed = rows * widths.PerToken;
        var buffer = scratch is { } s && s.Length >= needed ? s : scratch = new float[Math.Max(needed, 2 * (scratch?.Length ?? 0))];
        Tensor h;
        unsafe
        {
            fixed (float* start = buffer)
                h = Run(layers, rotary, inputsEmbeds, positionIds, direct, lengths, 1, cache.Length + 1, widths, start, room: false);
        }
        Interlocked.Increment(ref steps);
        return h;
    }

    /// <summary>
    /// The last hidden states [1, T, hidden] (before the final norm) of a prompt piece of T &gt; 1 positions through
    /// <paramref name="layers"/>, following the positions <paramref name="cache"/> holds, or null when this path does not apply.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static Tensor? TryPrompt(IList<LlamaDecoderLayer> layers, RotaryEmbedding rotary, int?[] windows, Tensor inputsEmbeds, Tensor positionIds, Tensor? padding, IKvCache? cache)
    {
        if (!PromptsEnabled || padding is not null || cache is not IDirectKvCache direct || direct.Count != 1 || layers.Count == 0 || !Takes(inputsEmbeds)) return null;
        long[] shape = inputsEmbeds.shape;
        if (shape[0] != 1 || shape[1] < 2 || shape[1] > int.MaxValue) return null;
        int t = (int)shape[1];
        long past = direct.LengthOf(0);
        if (past + t > Math.Min(cache.Capacity, int.MaxValue) || !Covers(layers, windows, direct, t, past + t, prompt: true)) return null;

        var widths = Widths.Of(layers, direct, (int)shape[2]);
        // The kernels count a piece's values in ints: a longer piece (a huge --prefill-chunk-tokens) is the modules'.
        if (t * widths.PerToken > int.MaxValue) return null;
        long room = 0;
        foreach (var layer in layers)
        {
            var (gate, up, _) = layer.Mlp.Projections;
            room = Math.Max(room, PackedProjections.SwiGluRoom((PackedLinear)gate, (PackedLinear)up, t));
        }
        // One mapping for the piece (megabytes: transparent huge pages, given back to the system at the end). The MLP's
        // room reuses the attention's rows (q, k, v, its output), idle by then.
        long rows = t * widths.RowsPerToken + Math.Max(t * widths.AttentionPerToken, room);
        nuint bytes = checked((nuint)(rows * sizeof(float)));
        Tensor h;
        unsafe
        {
            var start = (float*)HugePages.Allocate(bytes);
            try { h = Run(layers, rotary, inputsEmbeds, positionIds, direct, [past], t, cache.Length + t, widths, start, room: true); }
            finally { HugePages.Free(start, bytes); }
        }
        Interlocked.Increment(ref pieces);
        return h;
    }

    /// <summary>f32 embeddings [B, T, hidden] on the CPU, not to be differentiated.</summary>
    static bool Takes(Tensor inputsEmbeds) =>
        inputsEmbeds.dim() == 3 && inputsEmbeds.dtype == ScalarType.Float32 && inputsEmbeds.device_type == TorchSharp.DeviceType.CPU
        && !(is_grad_enabled() && inputsEmbeds.requires_grad);

    /// <summary>Widths of a token's rows in the workspace: hidden, query (heads · d), key/value (kv_heads · d); and what the cache holds.</summary>
    readonly record struct Widths(int Hidden, int Heads, int KvHeads, int HeadDim, ScalarType Cache)
    {
        public int Query => Heads * HeadDim;
        public int KeyValue => KvHeads * HeadDim;
        /// <summary>Floats a token takes: <see cref="RowsPerToken"/> and <see cref="AttentionPerToken"/>.</summary>
        public long PerToken => RowsPerToken + AttentionPerToken;
        /// <summary>Floats of a token's normed input and projected output.</summary>
        public long RowsPerToken => 2L * Hidden;
        /// <summary>Floats of a token's q, k, v and attention output.</summary>
        public long AttentionPerToken => 2L * Query + 2L * KeyValue;

        public static Widths Of(IList<LlamaDecoderLayer> layers, IDirectKvCache cache, int hidden)
        {
            var first = cache.Slots(layers[0].SelfAttention.LayerIndex);
            return new(hidden, layers[0].SelfAttention.Heads, (int)(first.RowStride / first.HeadStride), first.HeadDim, first.DType);
        }
    }

    /// <summary>
    /// Runs every layer over <paramref name="positions"/> new positions of each of the cache view's rows (row b's from
    /// <paramref name="lengths"/>[b] on; <paramref name="sequenceLength"/> in all, as the rotary table is asked), rows
    /// [tokens, width] one token after another in <paramref name="workspace"/> (normed input, projected output, then q,
    /// k, v and the attention's output); with <paramref name="room"/> the MLP's gate and up outputs go where q starts
    /// (a prompt's; a step's few tokens use the thread's buffer).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe Tensor Run(IList<LlamaDecoderLayer> layers, RotaryEmbedding rotary, Tensor inputsEmbeds, Tensor positionIds, IDirectKvCache direct,
        long[] lengths, int positions, long sequenceLength, Widths widths, float* workspace, bool room)
    {
        using var scope = NewDisposeScope();
        int rows = lengths.Length, tokens = rows * positions, heads = widths.Heads, kvHeads = widths.KvHeads, d = widths.HeadDim, hidden = widths.Hidden;
        // [B, T, d] for every head, once for all layers (the same table the modules read).
        var (cos, sin) = rotary.Compute(positionIds, sequenceLength, ScalarType.Float32);
        cos = cos.contiguous();
        sin = sin.contiguous();
        var h = inputsEmbeds.contiguous().clone();
        // A step's rows each attend over their own length, the new position included.
        var visible = new int[rows];
        for (int b = 0; b < rows; b++) visible[b] = (int)lengths[b] + 1;
        // A piece the blockwise kernel does not take: each query's own positions, for every layer's decode kernel.
        var causal = positions > 1 && !PromptAttention.Serves(d) ? DecodeAttention.CausalPositions((int)lengths[0], positions) : null;
        double scale = 1 / Math.Sqrt(d);
        fixed (byte* hb = h.bytes)
        fixed (byte* cb = cos.bytes)
        fixed (byte* sb = sin.bytes)
        {
            float* x = (float*)hb, normed = workspace, projected = normed + (long)tokens * hidden, q = projected + (long)tokens * hidden;
            float* k = q + (long)tokens * widths.Query, v = k + (long)tokens * widths.KeyValue, output = v + (long)tokens * widths.KeyValue;
            for (int i = 0; i < layers.Count; i++)
            {
                var layer = layers[i];
                var self = layer.SelfAttention;
                var (wq, wk, wv, wo) = self.Projections;
                var slots = direct.Slots(self.LayerIndex);

                layer.InputNorm.NormRows(x, normed, tokens);
                PackedProjections.Multiply([(PackedLinear)wq, (PackedLinear)wk, (PackedLinear)wv], normed, tokens, q);
                // q, k and v come out one matrix after another, [tokens, heads · d] each: the views q.view(b, t, heads, d) take.
                if (self.HeadNorms is ({ } qNorm, { } kNorm))
                {
                    qNorm.NormRows(q, q, tokens * heads);
                    kNorm.NormRows(k, k, tokens * kvHeads);
                }
                for (int b = 0; b < rows; b++)
                    for (int j = 0; j < positions; j++)
                    {
                        long token = (long)b * positions + j;
                        float* c = (float*)cb + token * d, sn = (float*)sb + token * d;
                        for (int head = 0; head < heads; head++) Rotate(q + (token * heads + head) * d, c, sn, d);
                        for (int head = 0; head < kvHeads; head++)
                        {
                            float* key = k + (token * kvHeads + head) * d;
                            Rotate(key, c, sn, d);
                            slots.Write(b, head, lengths[b] + j, new ReadOnlySpan<float>(key, d), new ReadOnlySpan<float>(v + (token * kvHeads + head) * d, d));
                        }
                    }
                // A piece's queries attend causally: blockwise where the prompt kernel serves (64-wide heads on AVX-512; a
                // 16-bit cache widened block by block as it is read), else one query at a time.
                if (positions == 1) DecodeAttention.Attend(q, heads, slots, visible, scale, output, KernelPool.Shared);
                else if (PromptAttention.Serves(d)) PromptAttention.Attend(q, heads, positions, slots, (int)lengths[0], scale, output, KernelPool.Shared);
                else DecodeAttention.AttendCausal(q, heads, slots, causal!, scale, output, KernelPool.Shared);
                ((PackedLinear)wo).Multiply(output, tokens, projected);
                Add(x, projected, tokens * hidden);

                layer.PostAttentionNorm.NormRows(x, normed, tokens);
                var (gate, up, down) = layer.Mlp.Projections;
                PackedProjections.SwiGlu((PackedLinear)gate, (PackedLinear)up, (PackedLinear)down, normed, tokens, projected, room ? q : null);
                Add(x, projected, tokens * hidden);
            }
        }
        return h.MoveToOuterDisposeScope();
    }

    [ThreadStatic] static float[]? scratch;

    /// <summary>
    /// Whether every layer is one this path computes for <paramref name="tokens"/> tokens attending to up to
    /// <paramref name="longest"/> positions: f32 norms, a built-in attention kernel, packed q/k/v/o of the widths the
    /// cache holds, a packed SwiGLU, each row within the layer's window, a cache of f32, f16 or bf16, and for a step
    /// (not a <paramref name="prompt"/>) no more rows than the row kernels take.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static bool Covers(IList<LlamaDecoderLayer> layers, int?[] windows, IDirectKvCache cache, int tokens, long longest, bool prompt)
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
            if (!prompt && !RowKernelsTake(tokens, pq, pk, pv, po, (PackedLinear)gate, (PackedLinear)up, (PackedLinear)down)) return false;
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
