using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlavaModal.Core.Kernels;
using LlavaModal.Core.Modules;
using static TorchSharp.torch;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace LlavaModal.Core.Attention;

/// <summary>
/// One decode step's attention on the CPU, <c>softmax(q kᵀ · scale) v</c> for one new position per row, read straight
/// from the KV cache's views ([B, kv_heads, S, head_dim], any strides but the last; two 1-D views address them, a third
/// tensor is the output), and an f16 or bf16 cache widened as it is read. The
/// <c>heads / kv_heads</c> query heads of a group are served by their key/value head together (each key and value row
/// is read once for all of them); scores, softmax and sums are f32. The (row, kv head) pairs are split over
/// <see cref="KernelPool"/>'s threads. No mask: every row attends to all S positions.
/// </summary>
static class DecodeAttention
{
    /// <summary>Positions converted at a time from a 16-bit cache (and the span of one score pass): fits in L1 with head_dim 128.</summary>
    const int Chunk = 64;

    /// <summary>Fewest cached elements (keys and values) a thread's share should hold: below it the pool's handoff costs more than it saves.</summary>
    const long MinElementsPerChunk = 16 * 1024;

    /// <summary>
    /// Fewest positions a part of a row holds: a longer row may be split into parts, each part's softmax and weighted sum
    /// computed apart and the parts merged, so a long context keeps threads busy however few rows and key/value heads
    /// there are (one row of Qwen2's two key/value heads used two threads).
    /// </summary>
    internal const int SplitPositions = 512;

    /// <summary>
    /// Items a step is split into at most for the sake of threads: rows times key/value heads below this are split into
    /// parts (of at least <see cref="SplitPositions"/>). A constant, not the thread count, so results do not depend on
    /// it; parts cost a merge and a few microseconds a layer, so shapes with items enough are left whole.
    /// </summary>
    internal const int SplitItems = 8;

    /// <summary>Off only for A/B measurements (the <c>decode</c> and <c>attention</c> benchmarks): decode steps then use libtorch.</summary>
    internal static bool Enabled { get; set; } = true;

    /// <summary>
    /// <c>softmax(q kᵀ · scale) v</c> as a new f32 tensor [B, heads, 1, d], or null when these tensors are not what the
    /// kernel computes (the caller then uses libtorch): f32 queries [B, heads, 1, d] on the CPU without autograd, keys and
    /// values [B, kv_heads, S, d] of one dtype (f32, f16 or bf16) with contiguous rows, heads a multiple of kv_heads, no
    /// mask, and 256-bit SIMD on this machine.
    /// </summary>
    public static unsafe Tensor? TryAttend(Tensor query, Tensor key, Tensor value, Tensor? mask, double scale, KernelPool pool)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(pool);
        if (!Enabled || mask is not null || !Vector256.IsHardwareAccelerated || query.dtype != ScalarType.Float32 || key.dtype != value.dtype
            || key.dtype is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16)
            || query.device_type != TorchSharp.DeviceType.CPU || key.device_type != TorchSharp.DeviceType.CPU || value.device_type != TorchSharp.DeviceType.CPU
            || is_grad_enabled() && (query.requires_grad || key.requires_grad || value.requires_grad))
            return null;
        long[] qs = query.shape, ks = key.shape, vs = value.shape;
        if (qs.Length != 4 || ks.Length != 4 || !vs.SequenceEqual(ks) || qs[2] != 1 || ks[0] != qs[0] || ks[3] != qs[3] || ks[1] == 0 || ks[2] == 0
            || qs[1] % ks[1] != 0 || qs[0] == 0 || key.stride(3) != 1 || value.stride(3) != 1)
            return null;
        using var keys = Flat(key);
        using var values = Flat(value);
        if (keys is null || values is null) return null;
        int b = (int)qs[0], heads = (int)qs[1], d = (int)qs[3], kvHeads = (int)ks[1], s = (int)ks[2];
        using var copy = query.stride(3) == 1 ? null : query.contiguous();
        var q = copy ?? query;
        // A decode step's queries are contiguous (one position): read in place, one view fewer.
        using var queries = q.is_contiguous() ? null : Flat(q)!;
        var output = empty([b, heads, 1, d], ScalarType.Float32);
        var work = new Work
        {
            Query = (float*)Address(queries ?? q),
            QueryBatchStride = q.stride(0),
            QueryHeadStride = q.stride(1),
            Keys = Address(keys),
            Values = Address(values),
            KeyStrides = (key.stride(0), key.stride(1), key.stride(2)),
            ValueStrides = (value.stride(0), value.stride(1), value.stride(2)),
            Output = (float*)Address(output),
            KvHeads = kvHeads,
            Groups = heads / kvHeads,
            Positions = [.. Enumerable.Repeat(s, b)],
            HeadDim = d,
            Scale = (float)scale,
            Element = key.dtype,
        };
        Run(work, b, s, pool);
        return output;
    }

    /// <summary>
    /// The same attention for a decode step run in C#, each row over its own positions: queries [rows, heads, d] f32 at
    /// <paramref name="query"/>; row r attends to positions [0, <paramref name="positions"/>[r]) of its keys and values in
    /// <paramref name="slots"/> (their new position written already); output [rows, heads, d] f32. Needs 256-bit SIMD
    /// (<see cref="Runs"/>) and a cache of f32, f16 or bf16.
    /// </summary>
    internal static unsafe void Attend(float* query, int heads, KvSlots slots, int[] positions, double scale, float* output, KernelPool pool) =>
        Attend(query, heads, slots, slots.RowStride, positions, scale, output, pool);

    /// <summary>
    /// A prompt piece's causal attention on one cache row with the same kernel, one query at a time: queries [T, heads, d]
    /// f32 at <paramref name="query"/>, the past cached positions and the T new ones (written already) of row 0 of
    /// <paramref name="slots"/>, query j seeing positions [0, past + j] (<paramref name="visible"/>: what
    /// <see cref="CausalPositions"/> gives, made once a piece for every layer); output [T, heads, d] f32.
    /// For the heads and caches <see cref="PromptAttention"/> does not take; needs <see cref="Runs"/>.
    /// </summary>
    internal static unsafe void AttendCausal(float* query, int heads, KvSlots slots, int[] visible, double scale, float* output, KernelPool pool) =>
        // Every query reads row 0: a row stride of 0 makes query j's "row" that one.
        Attend(query, heads, slots, 0, visible, scale, output, pool);

    /// <summary>The positions each of a piece's <paramref name="positions"/> queries sees after <paramref name="past"/> cached ones: past + j + 1.</summary>
    internal static int[] CausalPositions(int past, int positions)
    {
        var visible = new int[positions];
        for (int j = 0; j < positions; j++) visible[j] = past + j + 1;
        return visible;
    }

    static unsafe void Attend(float* query, int heads, KvSlots slots, long rowStride, int[] positions, double scale, float* output, KernelPool pool)
    {
        int b = positions.Length, d = slots.HeadDim, kvHeads = (int)(slots.RowStride / slots.HeadStride);
        var work = new Work
        {
            Query = query,
            QueryBatchStride = (long)heads * d,
            QueryHeadStride = d,
            Keys = slots.Keys,
            Values = slots.Values,
            KeyStrides = (rowStride, slots.HeadStride, d),
            ValueStrides = (rowStride, slots.HeadStride, d),
            Output = output,
            KvHeads = kvHeads,
            Groups = heads / kvHeads,
            Positions = positions,
            HeadDim = d,
            Scale = (float)scale,
            Element = slots.DType,
        };
        Run(work, b, positions.Max(), pool);
    }

    /// <summary>Whether this machine runs the kernel (256-bit SIMD) and it is on.</summary>
    internal static bool Runs => Enabled && Vector256.IsHardwareAccelerated;

    static unsafe void Run(Work work, int rows, int longest, KernelPool pool)
    {
        int pairs = rows * work.KvHeads;
        int splits = Math.Max(1, Math.Min(longest / SplitPositions, (SplitItems + pairs - 1) / pairs));
        int span = (longest + splits - 1) / splits;
        long perItem = 2L * span * work.HeadDim;
        int items = pairs * splits;
        int grain = (int)Math.Clamp(MinElementsPerChunk / perItem, 1, items);
        if (splits == 1)
        {
            pool.For(items, grain, work);
            return;
        }
        // Per (row, kv head, part): its query heads' weighted sums, maximum scores and softmax denominators; per pair,
        // its parts still to come (whoever writes the last one merges them: no second handoff to the pool).
        int length = checked(pairs * splits * work.PartialLength);
        var partials = ArrayPool<float>.Shared.Rent(length);
        var remaining = ArrayPool<int>.Shared.Rent(pairs);
        try
        {
            for (int pair = 0; pair < pairs; pair++) remaining[pair] = (work.Positions[pair / work.KvHeads] + span - 1) / span;
            fixed (float* start = partials)
            {
                work.Splits = splits;
                work.Span = span;
                work.Partials = start;
                work.Remaining = remaining;
                pool.For(items, grain, work);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partials);
            ArrayPool<int>.Shared.Return(remaining);
        }
    }

    /// <summary>
    /// A 1-D view from a tensor's first element to its last (its strides' reach), so one pointer addresses all of it; null
    /// when that is more than a span can hold.
    /// </summary>
    static Tensor? Flat(Tensor t)
    {
        long[] shape = t.shape;
        long extent = 1;
        for (int i = 0; i < shape.Length; i++) extent += (shape[i] - 1) * t.stride(i);
        return extent * t.ElementSize > int.MaxValue ? null : t.as_strided([extent], [1], t.storage_offset());
    }

    static unsafe byte* Address(Tensor contiguous) => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(contiguous.bytes));

    /// <summary>
    /// One (row, kv head) pair per item: its query heads' scores, softmax, and weighted sum of values; or, for long rows
    /// of few pairs (<see cref="SplitItems"/>), one part of a pair's positions per item (<see cref="Splits"/> parts a
    /// pair, written to <see cref="Partials"/>), the last part of a pair written merging them (<see cref="Merge"/>).
    /// </summary>
    sealed unsafe class Work : IRangeWork
    {
        public float* Query;
        public long QueryBatchStride, QueryHeadStride;
        public byte* Keys, Values;
        public (long Batch, long Head, long Position) KeyStrides, ValueStrides;
        public float* Output;
        public int KvHeads, Groups, HeadDim;
        /// <summary>Positions each row attends to.</summary>
        public int[] Positions = [];
        public float Scale;
        public ScalarType Element;
        /// <summary>Parts each pair's positions are split into (1: none, items are pairs), of <see cref="Span"/> positions (a row's last part fewer).</summary>
        public int Splits = 1, Span;
        /// <summary>Per (pair, part): <see cref="PartialLength"/> floats; only when <see cref="Splits"/> &gt; 1.</summary>
        public float* Partials;

        [ThreadStatic] static float[]? scratch;

        /// <summary>Floats of one part in <see cref="Partials"/>: its weighted sums [g, d], then its maxima [g] and denominators [g].</summary>
        public int PartialLength => Groups * (HeadDim + 2);

        /// <summary>Per pair, its parts not yet written (only when <see cref="Splits"/> &gt; 1).</summary>
        public int[] Remaining = [];

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int start, int end)
        {
            int d = HeadDim, g = Groups, span = Splits == 1 ? Positions.Max() : Span;
            int needed = g * d + g * span + g * d + Chunk * d + 2 * g;
            if (scratch is null || scratch.Length < needed) scratch = new float[Math.Max(needed, 2 * (scratch?.Length ?? 0))];
            fixed (float* buffer = scratch)
            {
                float* queries = buffer, scores = queries + g * d, sums = scores + g * span, rows = sums + g * d, maxima = rows + Chunk * d, totals = maxima + g;
                for (int item = start; item < end; item++)
                {
                    int pair = item / Splits, part = item % Splits, b = pair / KvHeads, h = pair % KvHeads;
                    int first = part * Span, last = Splits == 1 ? Positions[b] : Math.Min(Positions[b], first + Span);
                    // A part past a shorter row's positions: nothing to attend to, and Merge reads only the row's own parts.
                    if (first >= last) continue;
                    if (Splits > 1)
                    {
                        // Straight into the part's place for Merge.
                        float* partial = Partials + (long)item * PartialLength;
                        Attend(b, h, first, last, queries, scores, partial, rows, partial + g * d, partial + g * d + g);
                        // A full fence: the other parts' writes are visible to whoever counts the last one.
                        if (Interlocked.Decrement(ref Remaining[pair]) == 0) Merge(pair);
                        continue;
                    }
                    Attend(b, h, first, last, queries, scores, sums, rows, maxima, totals);
                    for (int j = 0; j < g; j++)
                        TensorPrimitives.Multiply(new ReadOnlySpan<float>(sums + j * d, d), 1 / totals[j], new Span<float>(Output + ((long)b * KvHeads * g + h * g + j) * d, d));
                }
            }
        }

        /// <summary>
        /// Positions [<paramref name="first"/>, <paramref name="last"/>) of row <paramref name="b"/>, kv head
        /// <paramref name="h"/>, for its query heads: per head j, the scores' maximum (<paramref name="maxima"/>), the
        /// softmax denominator against it (<paramref name="totals"/>) and the values weighted by the numerators, not yet
        /// divided (<paramref name="sums"/>, [g, d]).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void Attend(int b, int h, int first, int last, float* queries, float* scores, float* sums, float* rows, float* maxima, float* totals)
        {
            int d = HeadDim, g = Groups, s = last - first, elementSize = Element == ScalarType.Float32 ? 4 : 2;
            for (int j = 0; j < g; j++)
            {
                var q = new ReadOnlySpan<float>(Query + b * QueryBatchStride + (h * g + j) * QueryHeadStride, d);
                TensorPrimitives.Multiply(q, Scale, new Span<float>(queries + j * d, d));
            }
            byte* keys = Keys + (b * KeyStrides.Batch + h * KeyStrides.Head + first * KeyStrides.Position) * elementSize;
            for (int c = 0; c < s; c += Chunk)
            {
                int n = Math.Min(Chunk, s - c);
                float* k = Rows(keys + c * KeyStrides.Position * elementSize, n, KeyStrides.Position, rows, out long stride);
                for (int j = 0; j < g; j++)
                    Scores(queries + j * d, k, stride, n, d, scores + j * s + c);
            }
            // Softmax numerators in place; the denominators divide the sums at the end.
            for (int j = 0; j < g; j++) totals[j] = Exponentials.SoftmaxNumerators(scores + j * s, s, out maxima[j]);
            new Span<float>(sums, g * d).Clear();
            byte* values = Values + (b * ValueStrides.Batch + h * ValueStrides.Head + first * ValueStrides.Position) * elementSize;
            for (int c = 0; c < s; c += Chunk)
            {
                int n = Math.Min(Chunk, s - c);
                float* v = Rows(values + c * ValueStrides.Position * elementSize, n, ValueStrides.Position, rows, out long stride);
                for (int j = 0; j < g; j++)
                    Accumulate(scores + j * s + c, v, stride, n, d, sums + j * d);
            }
        }

        /// <summary>
        /// Each (row, kv head, query head)'s parts into its output: every part's denominator and weighted sums rescaled
        /// from the part's maximum to the row's, added, and divided.
        /// </summary>
        void Merge(int pair)
        {
            int d = HeadDim, g = Groups;
            int b = pair / KvHeads, h = pair % KvHeads, parts = (Positions[b] + Span - 1) / Span;
            float* first = Partials + (long)pair * Splits * PartialLength;
            for (int j = 0; j < g; j++)
            {
                float top = float.NegativeInfinity;
                for (int p = 0; p < parts; p++) top = MathF.Max(top, first[p * PartialLength + g * d + j]);
                var output = new Span<float>(Output + ((long)b * KvHeads * g + h * g + j) * d, d);
                output.Clear();
                float total = 0;
                for (int p = 0; p < parts; p++)
                {
                    float* part = first + p * PartialLength;
                    float factor = MathF.Exp(part[g * d + j] - top);
                    total += part[g * d + g + j] * factor;
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(part + j * d, d), factor, output, output);
                }
                TensorPrimitives.Multiply(output, 1 / total, output);
            }
        }

        /// <summary><paramref name="n"/> rows as f32: the cache's own for f32 (no copy), else widened into <paramref name="buffer"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        float* Rows(byte* source, int n, long sourceStride, float* buffer, out long stride)
        {
            if (Element == ScalarType.Float32)
            {
                stride = sourceStride;
                return (float*)source;
            }
            int d = HeadDim;
            stride = d;
            // Rows next to each other (a cache view always) widen in one call.
            int runs = sourceStride == d ? 1 : n, length = sourceStride == d ? n * d : d;
            for (int r = 0; r < runs; r++)
            {
                ushort* from = (ushort*)source + r * sourceStride;
                if (Element == ScalarType.Float16)
                    WidenHalf(from, buffer + r * d, length);
                else
                    WidenBFloat16(from, buffer + r * d, length);
            }
            return buffer;
        }
    }

    /// <summary>
    /// <c>scores[i] = q · k[i]</c> for <paramref name="n"/> rows <paramref name="stride"/> floats apart, four rows at a
    /// time so four sums are in flight (256-bit vectors, then scalars; 512-bit ones measured no faster here). By hand:
    /// <c>TensorPrimitives.Dot</c> per row costs more in its call than the 64 products of a row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Scores(float* q, float* k, long stride, int n, int d, float* scores)
    {
        int i = 0;
        for (; i + 4 <= n; i += 4)
        {
            float* k0 = k + i * stride, k1 = k0 + stride, k2 = k1 + stride, k3 = k2 + stride;
            int c = 0;
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            if (c + 8 <= d)
            {
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (; c + 8 <= d; c += 8)
                {
                    var x = Vector256.Load(q + c);
                    a0 = Vector256.FusedMultiplyAdd(x, Vector256.Load(k0 + c), a0);
                    a1 = Vector256.FusedMultiplyAdd(x, Vector256.Load(k1 + c), a1);
                    a2 = Vector256.FusedMultiplyAdd(x, Vector256.Load(k2 + c), a2);
                    a3 = Vector256.FusedMultiplyAdd(x, Vector256.Load(k3 + c), a3);
                }
                s0 += Vector256.Sum(a0);
                s1 += Vector256.Sum(a1);
                s2 += Vector256.Sum(a2);
                s3 += Vector256.Sum(a3);
            }
            for (; c < d; c++)
            {
                s0 += q[c] * k0[c];
                s1 += q[c] * k1[c];
                s2 += q[c] * k2[c];
                s3 += q[c] * k3[c];
            }
            scores[i] = s0;
            scores[i + 1] = s1;
            scores[i + 2] = s2;
            scores[i + 3] = s3;
        }
        for (; i < n; i++)
        {
            float* row = k + i * stride;
            Vector256<float> a = default;
            int c = 0;
            for (; c + 8 <= d; c += 8) a = Vector256.FusedMultiplyAdd(Vector256.Load(q + c), Vector256.Load(row + c), a);
            float sum = Vector256.Sum(a);
            for (; c < d; c++) sum += q[c] * row[c];
            scores[i] = sum;
        }
    }

    /// <summary>
    /// <c>sum += Σ p[i] · v[i]</c> over <paramref name="n"/> rows: 64 columns at a time held in four 512-bit registers
    /// across the rows where the CPU has them (the rows are in L1: one chunk), then 8, then one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Accumulate(float* p, float* v, long stride, int n, int d, float* sum)
    {
        int c = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; c + 64 <= d; c += 64)
            {
                var a0 = Vector512.Load(sum + c);
                var a1 = Vector512.Load(sum + c + 16);
                var a2 = Vector512.Load(sum + c + 32);
                var a3 = Vector512.Load(sum + c + 48);
                float* row = v + c;
                for (int i = 0; i < n; i++, row += stride)
                {
                    var w = Vector512.Create(p[i]);
                    a0 = Vector512.FusedMultiplyAdd(w, Vector512.Load(row), a0);
                    a1 = Vector512.FusedMultiplyAdd(w, Vector512.Load(row + 16), a1);
                    a2 = Vector512.FusedMultiplyAdd(w, Vector512.Load(row + 32), a2);
                    a3 = Vector512.FusedMultiplyAdd(w, Vector512.Load(row + 48), a3);
                }
                a0.Store(sum + c);
                a1.Store(sum + c + 16);
                a2.Store(sum + c + 32);
                a3.Store(sum + c + 48);
            }
        }
        // 8 columns at a time; even and odd rows in two sums, so two FMA chains are in flight.
        for (; c + 8 <= d; c += 8)
        {
            var even = Vector256.Load(sum + c);
            var odd = Vector256<float>.Zero;
            float* row = v + c;
            int i = 0;
            for (; i + 2 <= n; i += 2, row += 2 * stride)
            {
                even = Vector256.FusedMultiplyAdd(Vector256.Create(p[i]), Vector256.Load(row), even);
                odd = Vector256.FusedMultiplyAdd(Vector256.Create(p[i + 1]), Vector256.Load(row + stride), odd);
            }
            if (i < n) even = Vector256.FusedMultiplyAdd(Vector256.Create(p[i]), Vector256.Load(row), even);
            (even + odd).Store(sum + c);
        }
        for (; c < d; c++)
        {
            float a = sum[c];
            for (int i = 0; i < n; i++) a += p[i] * v[i * stride + c];
            sum[c] = a;
        }
    }

    /// <summary>
    /// f16 to f32 with the weight kernels' in-register widening (<see cref="F16Block.Widen(Vector256{ushort})"/>, exact for
    /// every half, subnormals, infinities and NaNs included) where AVX-512 is there, else <c>TensorPrimitives</c>, whose
    /// conversion took 1.4-2.6x the f32 attention time at 70m.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void WidenHalf(ushort* source, float* target, int count)
    {
        int i = 0;
        if (Avx512F.IsSupported)
            for (; i + 16 <= count; i += 16)
                F16Block.Widen(Vector256.Load(source + i)).Store(target + i);
        if (i < count) TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)source + i, count - i), new Span<float>(target + i, count - i));
    }

    /// <summary>bf16 to f32 is the upper half of the f32 bits: shift left 16 (by hand: no .NET library converts bf16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void WidenBFloat16(ushort* source, float* target, int count)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 32 <= count; i += 32)
            {
                var (low, high) = Vector512.Widen(Vector512.Load(source + i));
                Vector512.ShiftLeft(low, 16).AsSingle().Store(target + i);
                Vector512.ShiftLeft(high, 16).AsSingle().Store(target + i + 16);
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= count; i += 16)
            {
                var (low, high) = Vector256.Widen(Vector256.Load(source + i));
                Vector256.ShiftLeft(low, 16).AsSingle().Store(target + i);
                Vector256.ShiftLeft(high, 16).AsSingle().Store(target + i + 8);
            }
        }
        for (; i < count; i++) target[i] = BitConverter.Int32BitsToSingle(source[i] << 16);
    }
}
