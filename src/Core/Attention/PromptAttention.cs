using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlavaModal.Core.Kernels;
using LlavaModal.Core.Modules;
using static TorchSharp.torch;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace LlavaModal.Core.Attention;

/// <summary>
/// A prompt's causal attention on the CPU, <c>softmax(q kᵀ · scale + causal) v</c>, the T queries being the last T of
/// the keys' positions (P = keys - T cached before them, as a prompt prefilled in pieces has), blockwise with an online
/// softmax (no [T, P + T] scores): for each key/value head and block of <see cref="QueryBlock"/> queries, keys are
/// taken <see cref="KeyBlock"/> at a time up to the diagonal, transposed
/// once for all the group's query heads; each query row keeps its running maximum, denominator and weighted sum.
/// Scores, softmax and sums are f32. (key/value head, query block) items are split over <see cref="KernelPool"/>.
/// </summary>
/// <remarks>By hand: libtorch's fused CPU kernel (<c>is_causal</c>) repeats grouped key/value heads and runs its
/// blocks through MKL calls sized for larger heads; the <c>prefill-attention</c> benchmark compares both.</remarks>
static class PromptAttention
{
    const int KeyBlock = 64;
    const int QueryBlock = 32;

    /// <summary>Off only for A/B measurements: prompts then attend through libtorch.</summary>
    internal static bool Enabled { get; set; } = true;

    /// <summary>
    /// The attention as a new f32 tensor [B, heads, T, d], or null when these tensors are not what the kernel computes
    /// (the caller uses libtorch): f32 on the CPU without autograd, queries [B, heads, T, d] and keys and values [B,
    /// kv_heads, P + T, d] (P >= 0 positions before the queries, each query seeing the keys up to its own position),
    /// heads a multiple of kv_heads, d a multiple of 64, and 512-bit SIMD on this machine.
    /// </summary>
    public static unsafe Tensor? TryAttendCausal(Tensor query, Tensor key, Tensor value, double scale, KernelPool pool)
    {
        if (!Enabled || !Vector512.IsHardwareAccelerated || query.dtype != ScalarType.Float32 || key.dtype != ScalarType.Float32 || value.dtype != ScalarType.Float32
            || query.device_type != TorchSharp.DeviceType.CPU || key.device_type != TorchSharp.DeviceType.CPU || value.device_type != TorchSharp.DeviceType.CPU
            || is_grad_enabled() && (query.requires_grad || key.requires_grad || value.requires_grad))
            return null;
        long[] qs = query.shape, ks = key.shape;
        if (qs.Length != 4 || ks.Length != 4 || !value.shape.SequenceEqual(ks) || ks[0] != qs[0] || ks[2] < qs[2] || ks[3] != qs[3] || ks[1] == 0
            || qs[1] % ks[1] != 0 || qs[3] % 64 != 0 || qs[0] == 0 || qs[2] == 0 || ks[2] > int.MaxValue)
            return null;
        using var q = query.contiguous();
        using var k = key.contiguous();
        using var v = value.contiguous();
        if (q.numel() * 4 > int.MaxValue || k.numel() * 4 > int.MaxValue) return null;
        int b = (int)qs[0], heads = (int)qs[1], t = (int)qs[2], d = (int)qs[3], kvHeads = (int)ks[1];
        long keys = ks[2] * d;
        var output = empty([b, heads, t, d], ScalarType.Float32);
        fixed (byte* pq = q.bytes)
        fixed (byte* pk = k.bytes)
        fixed (byte* pv = v.bytes)
        fixed (byte* po = output.bytes)
            Run(new Work
            {
                Query = (float*)pq, Keys = pk, Values = pv, Output = (float*)po, Element = ScalarType.Float32,
                RowStride = (long)heads * t * d, HeadStride = (long)t * d, PositionStride = d, KeyRowStride = kvHeads * keys, KeyHeadStride = keys,
                Rows = b, KvHeads = kvHeads, Groups = heads / kvHeads, Positions = t, Past = (int)ks[2] - t, HeadDim = d, Scale = (float)scale,
            }, pool);
        return output;
    }

    /// <summary>Whether <see cref="Attend"/> computes heads of <paramref name="headDim"/>: a multiple of 64, with 512-bit SIMD on this machine.</summary>
    internal static bool Serves(int headDim) => Enabled && Vector512.IsHardwareAccelerated && headDim % 64 == 0;

    /// <summary>
    /// One row's causal attention on raw buffers, as <see cref="TryAttendCausal"/> computes it: <paramref name="query"/>
    /// [T, heads · d] f32 token by token (what the q projection writes), keys and values the first <paramref name="past"/>
    /// + T positions of row 0 of <paramref name="slots"/> (the T new ones already written; f32, or f16 / bf16 widened
    /// exactly as each block is read, so no f32 copy of the cache is made), <paramref name="output"/> [T, heads · d] f32
    /// like the queries. Only where <see cref="Serves"/> holds.
    /// </summary>
    internal static unsafe void Attend(float* query, int heads, int positions, KvSlots slots, int past, double scale, float* output, KernelPool pool)
    {
        if (slots.DType is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16))
            throw new ArgumentException($"a cache of {slots.DType} is not one the prompt kernel reads.", nameof(slots));
        int d = slots.HeadDim, kvHeads = (int)(slots.RowStride / slots.HeadStride);
        Run(new Work
        {
            Query = query, Keys = slots.Keys, Values = slots.Values, Output = output, Element = slots.DType,
            RowStride = 0, HeadStride = d, PositionStride = (long)heads * d, KeyRowStride = 0, KeyHeadStride = slots.HeadStride,
            Rows = 1, KvHeads = kvHeads, Groups = heads / kvHeads, Positions = positions, Past = past, HeadDim = d, Scale = (float)scale,
        }, pool);
    }

    static void Run(Work work, KernelPool pool)
    {
        work.Blocks = (work.Positions + QueryBlock - 1) / QueryBlock;
        pool.For(work.Rows * work.KvHeads * work.Blocks, 1, work);
    }

    /// <summary>One (row, kv head, query block) per item; queries and output share one layout, keys and values another (strides in elements).</summary>
    sealed unsafe class Work : IRangeWork
    {
        public float* Query, Output;
        /// <summary>Keys and values of <see cref="Element"/> (f32, f16 or bf16).</summary>
        public byte* Keys, Values;
        public ScalarType Element;
        public long RowStride, HeadStride, PositionStride, KeyRowStride, KeyHeadStride;
        public int Rows, KvHeads, Groups, Positions, Past, HeadDim, Blocks;
        public float Scale;

        [ThreadStatic] static float[]? scratch;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int start, int end)
        {
            int d = HeadDim, rows = Groups * QueryBlock;
            // Transposed key block, two rows of scores, per row (and a spare for an odd last row): maximum, denominator,
            // weighted sum; a 16-bit cache's value block widened.
            int needed = d * KeyBlock + 2 * KeyBlock + 2 * (rows + 1) + (rows + 1) * d + (Element == ScalarType.Float32 ? 0 : KeyBlock * d);
            if (scratch is null || scratch.Length < needed) scratch = new float[needed];
            fixed (float* buffer = scratch)
                for (int item = start; item < end; item++)
                    switch (Element)
                    {
                        case ScalarType.Float16: Block<HalfElements>(item, buffer); break;
                        case ScalarType.BFloat16: Block<BFloat16Elements>(item, buffer); break;
                        default: Block<FloatElements>(item, buffer); break;
                    }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void Block<TElements>(int item, float* buffer) where TElements : struct, IElements
        {
            int d = HeadDim, g = Groups, t = Positions, past = Past;
            int block = item % Blocks, pair = item / Blocks, h = pair % KvHeads, b = pair / KvHeads;
            int first = block * QueryBlock, count = Math.Min(QueryBlock, t - first);
            int spare = g * QueryBlock;
            float* transposed = buffer, scores = transposed + d * KeyBlock, maxima = scores + 2 * KeyBlock, sums = maxima + spare + 1, weighted = sums + spare + 1;
            float* widened = weighted + (long)(spare + 1) * d;
            long keyStart = (b * KeyRowStride + h * KeyHeadStride) * TElements.Size;
            byte* keys = Keys + keyStart, values = Values + keyStart;
            for (int r = 0; r <= spare; r++)
            {
                maxima[r] = float.NegativeInfinity;
                sums[r] = 0;
            }
            new Span<float>(weighted, (spare + 1) * d).Clear();
            int last = past + first + count - 1; // the block's last query, as a key position
            for (int k0 = 0; k0 <= last; k0 += KeyBlock)
            {
                int n = Math.Min(KeyBlock, last + 1 - k0);
                // Queries before k0 (possible once keys run ahead of the queries) see none of this block and skip it.
                int firstSeeing = Math.Max(0, k0 - past - first);
                Transpose<TElements>(keys + (long)k0 * d * TElements.Size, n, d, transposed);
                float* blockValues = TElements.Rows(values + (long)k0 * d * TElements.Size, n * d, widened);
                for (int j = 0; j < g; j++)
                {
                    float* queries = Query + b * RowStride + ((long)h * g + j) * HeadStride;
                    // Two query rows at a time share each key and value load; an odd last row pairs with a spare. Every
                    // query from firstSeeing on is at or past k0, so it sees key k0.
                    for (int r = firstSeeing; r < count; r += 2)
                    {
                        int second = r + 1 < count ? r + 1 : -1;
                        int row0 = j * QueryBlock + r, row1 = second < 0 ? spare : j * QueryBlock + second;
                        // Query rows count from the first query; their positions among the keys from the first key.
                        int query0 = first + r, query1 = first + (second < 0 ? r : second);
                        float* scores1 = scores + KeyBlock;
                        Scores(queries + query0 * PositionStride, queries + query1 * PositionStride, transposed, d, Scale, scores, scores1);
                        // Keys past a query's position are masked: only the diagonal block has any.
                        int visible0 = Math.Min(n, past + query0 - k0 + 1), visible1 = Math.Min(n, past + query1 - k0 + 1);
                        float c0 = Softmax(scores, visible0, maxima + row0, sums + row0);
                        float c1 = Softmax(scores1, visible1, maxima + row1, sums + row1);
                        Accumulate(scores, scores1, c0, c1, blockValues, visible1, d, weighted + (long)row0 * d, weighted + (long)row1 * d);
                    }
                }
            }
            for (int j = 0; j < g; j++)
            {
                float* output = Output + b * RowStride + ((long)h * g + j) * HeadStride;
                for (int r = 0; r < count; r++)
                {
                    int row = j * QueryBlock + r;
                    TensorPrimitives.Multiply(new ReadOnlySpan<float>(weighted + (long)row * d, d), 1 / sums[row], new Span<float>(output + (first + r) * PositionStride, d));
                }
            }
        }
    }

    static float MaxOf(Vector512<float> v)
    {
        var half = Vector256.Max(v.GetLower(), v.GetUpper());
        var quarter = Vector128.Max(half.GetLower(), half.GetUpper());
        return MathF.Max(MathF.Max(quarter[0], quarter[1]), MathF.Max(quarter[2], quarter[3]));
    }

    /// <summary>How the kernel reads a cache of one element type as f32 (16-bit ones widened exactly).</summary>
    unsafe interface IElements
    {
        static abstract int Size { get; }
        /// <summary>16 values from element <paramref name="index"/> on.</summary>
        static abstract Vector512<float> Load(byte* at, long index);
        /// <summary><paramref name="count"/> values as f32: in place for f32, else widened into <paramref name="buffer"/>.</summary>
        static abstract float* Rows(byte* at, int count, float* buffer);
    }

    readonly unsafe struct FloatElements : IElements
    {
        public static int Size => 4;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(byte* at, long index) => Vector512.Load((float*)at + index);
        public static float* Rows(byte* at, int count, float* buffer) => (float*)at;
    }

    readonly unsafe struct HalfElements : IElements
    {
        public static int Size => 2;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(byte* at, long index) => F16Block.Widen(Vector256.Load((ushort*)at + index));
        public static float* Rows(byte* at, int count, float* buffer)
        {
            DecodeAttention.WidenHalf((ushort*)at, buffer, count);
            return buffer;
        }
    }

    readonly unsafe struct BFloat16Elements : IElements
    {
        public static int Size => 2;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(byte* at, long index) => Vector512.ShiftLeft(Avx512F.ConvertToVector512UInt32(Vector256.Load((ushort*)at + index)), 16).AsSingle();
        public static float* Rows(byte* at, int count, float* buffer)
        {
            DecodeAttention.WidenBFloat16((ushort*)at, buffer, count);
            return buffer;
        }
    }

    /// <summary><paramref name="n"/> key rows [n, d] into [d, 64] f32 (columns past n zero), so a query's 64 scores are 4 vectors of products; 16 × 16 tiles transposed in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Transpose<TElements>(byte* keys, int n, int d, float* target) where TElements : struct, IElements
    {
        var rows = stackalloc Vector512<float>[16];
        var scratch = stackalloc Vector512<float>[16];
        for (int j0 = 0; j0 < KeyBlock; j0 += 16)
            for (int c0 = 0; c0 < d; c0 += 16)
            {
                for (int r = 0; r < 16; r++)
                    rows[r] = j0 + r < n ? TElements.Load(keys, (long)(j0 + r) * d + c0) : default;
                RegisterTranspose.Transpose(rows, target + c0 * KeyBlock + j0, KeyBlock, scratch);
            }
    }

    /// <summary><c>scores[j] = scale · q · k[j]</c> for two query rows and the 64 keys of a transposed block: per column, two broadcasts and eight products on four loads.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Scores(float* q0, float* q1, float* transposed, int d, float scale, float* scores0, float* scores1)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        for (int c = 0; c < d; c++)
        {
            var x = Vector512.Create(q0[c]);
            var y = Vector512.Create(q1[c]);
            float* k = transposed + c * KeyBlock;
            var (k0, k1, k2, k3) = (Vector512.Load(k), Vector512.Load(k + 16), Vector512.Load(k + 32), Vector512.Load(k + 48));
            a0 = Vector512.FusedMultiplyAdd(x, k0, a0);
            a1 = Vector512.FusedMultiplyAdd(x, k1, a1);
            a2 = Vector512.FusedMultiplyAdd(x, k2, a2);
            a3 = Vector512.FusedMultiplyAdd(x, k3, a3);
            b0 = Vector512.FusedMultiplyAdd(y, k0, b0);
            b1 = Vector512.FusedMultiplyAdd(y, k1, b1);
            b2 = Vector512.FusedMultiplyAdd(y, k2, b2);
            b3 = Vector512.FusedMultiplyAdd(y, k3, b3);
        }
        var factor = Vector512.Create(scale);
        (a0 * factor).Store(scores0);
        (a1 * factor).Store(scores0 + 16);
        (a2 * factor).Store(scores0 + 32);
        (a3 * factor).Store(scores0 + 48);
        (b0 * factor).Store(scores1);
        (b1 * factor).Store(scores1 + 16);
        (b2 * factor).Store(scores1 + 32);
        (b3 * factor).Store(scores1 + 48);
    }

    /// <summary>
    /// The online softmax's step for one query row over the first <paramref name="visible"/> of a block's 64 scores: the
    /// new running maximum, the scores turned into exponentials against it (masked ones -inf, so 0), the denominator
    /// rescaled and increased; returns the factor that rescales the row's weighted sum.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe float Softmax(float* scores, int visible, float* maximum, float* sum)
    {
        for (int j = visible; j < KeyBlock; j++) scores[j] = float.NegativeInfinity;
        var (s0, s1, s2, s3) = (Vector512.Load(scores), Vector512.Load(scores + 16), Vector512.Load(scores + 32), Vector512.Load(scores + 48));
        float top = Math.Max(*maximum, MaxOf(Vector512.Max(Vector512.Max(s0, s1), Vector512.Max(s2, s3))));
        float correction = MathF.Exp(*maximum - top);
        var shift = Vector512.Create(top);
        var (e0, e1, e2, e3) = (Exponentials.Exp(s0 - shift), Exponentials.Exp(s1 - shift), Exponentials.Exp(s2 - shift), Exponentials.Exp(s3 - shift));
        e0.Store(scores);
        e1.Store(scores + 16);
        e2.Store(scores + 32);
        e3.Store(scores + 48);
        *maximum = top;
        *sum = *sum * correction + Vector512.Sum((e0 + e1) + (e2 + e3));
        return correction;
    }

    /// <summary>
    /// Two rows' weighted sums rescaled (<paramref name="c0"/>, <paramref name="c1"/>) and increased by their weights
    /// times the block's first <paramref name="n"/> value rows, 64 columns at a time held in registers, each value load
    /// serving both rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Accumulate(float* p0, float* p1, float c0, float c1, float* values, int n, int d, float* w0, float* w1)
    {
        var r0 = Vector512.Create(c0);
        var r1 = Vector512.Create(c1);
        for (int c = 0; c < d; c += 64)
        {
            var a0 = Vector512.Load(w0 + c) * r0;
            var a1 = Vector512.Load(w0 + c + 16) * r0;
            var a2 = Vector512.Load(w0 + c + 32) * r0;
            var a3 = Vector512.Load(w0 + c + 48) * r0;
            var b0 = Vector512.Load(w1 + c) * r1;
            var b1 = Vector512.Load(w1 + c + 16) * r1;
            var b2 = Vector512.Load(w1 + c + 32) * r1;
            var b3 = Vector512.Load(w1 + c + 48) * r1;
            float* row = values + c;
            for (int j = 0; j < n; j++, row += d)
            {
                var (v0, v1, v2, v3) = (Vector512.Load(row), Vector512.Load(row + 16), Vector512.Load(row + 32), Vector512.Load(row + 48));
                var x = Vector512.Create(p0[j]);
                var y = Vector512.Create(p1[j]);
                a0 = Vector512.FusedMultiplyAdd(x, v0, a0);
                a1 = Vector512.FusedMultiplyAdd(x, v1, a1);
                a2 = Vector512.FusedMultiplyAdd(x, v2, a2);
                a3 = Vector512.FusedMultiplyAdd(x, v3, a3);
                b0 = Vector512.FusedMultiplyAdd(y, v0, b0);
                b1 = Vector512.FusedMultiplyAdd(y, v1, b1);
                b2 = Vector512.FusedMultiplyAdd(y, v2, b2);
                b3 = Vector512.FusedMultiplyAdd(y, v3, b3);
            }
            a0.Store(w0 + c);
            a1.Store(w0 + c + 16);
            a2.Store(w0 + c + 32);
            a3.Store(w0 + c + 48);
            b0.Store(w1 + c);
            b1.Store(w1 + c + 16);
            b2.Store(w1 + c + 32);
            b3.Store(w1 + c + 48);
        }
    }
}
