using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace LlavaModal.Core.Kernels;

/// <summary>
/// Products of activations with a <see cref="PackedMatrix"/>: <c>y[t, o] = Σᵢ W[o, i] x[t, i]</c> for a few tokens
/// (decode, small batches), on the instruction set and threads asked for. One token reads every weight once; up to
/// four tokens share each decoded block.
/// </summary>
/// <remarks>Written by hand: TorchSharp has no int8/int4 product, and libtorch's f32/bf16 matrix-vector products read
/// weights at a third of the memory bandwidth on the CPUs measured here (see the README's Performance section).</remarks>
public static unsafe class MatMul
{
    /// <summary>
    /// The shortest rows a one-token product reads four at a time (f32, bf16): shorter rows put two of the four streams
    /// in one 4 KiB page, and one at a time read 15-50% faster (70m's 512-wide rows, Zen 4, 1 and 2 threads); on 1.1B's
    /// rows (4-22 KiB) the two measured alike there, and four led on Zen 5.
    /// </summary>
    internal const long FourRowBytes = 4096;

    /// <summary>Computes <paramref name="y"/> [tokens, rows] from <paramref name="x"/> [tokens, columns].</summary>
    /// <exception cref="ArgumentException">Sizes that do not fit the matrix, or an instruction set this CPU lacks.</exception>
    public static void Multiply(PackedMatrix weights, ReadOnlySpan<float> x, int tokens, Span<float> y, KernelIsa? isa = null, KernelPool? pool = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tokens);
        if (x.Length != (long)tokens * weights.Columns) throw new ArgumentException($"Expected {tokens} x {weights.Columns} activations, got {x.Length}.", nameof(x));
        if (y.Length != (long)tokens * weights.Rows) throw new ArgumentException($"Expected {tokens} x {weights.Rows} outputs, got {y.Length}.", nameof(y));
        fixed (float* px = x)
        fixed (float* py = y)
            Multiply(weights, px, tokens, py, isa ?? KernelIsas.Best, pool ?? KernelPool.Shared);
    }

    /// <summary>Writes the matrix as floats, row-major, into <paramref name="target"/> (prefill multiplies that with libtorch).</summary>
    public static void Dequantize(PackedMatrix weights, Span<float> target, KernelIsa? isa = null, KernelPool? pool = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (target.Length != (long)weights.Rows * weights.Columns) throw new ArgumentException($"Expected room for {weights.Rows} x {weights.Columns} values, got {target.Length}.", nameof(target));
        fixed (float* pt = target)
            Run(new RowWork(weights, null, 0, pt), isa ?? KernelIsas.Best, pool ?? KernelPool.Shared, weights.Rows);
    }

    internal static void Multiply(PackedMatrix weights, float* x, int tokens, float* y, KernelIsa isa, KernelPool pool) =>
        Run(new RowWork(weights, x, tokens, y), isa, pool, weights.Rows);

    /// <summary>
    /// Products of the same activations <paramref name="x"/> [tokens, columns] with several matrices of that width in one
    /// pass over the threads (a layer's q/k/v or gate/up projections: one wake-up of the pool instead of one per matrix).
    /// <paramref name="y"/> receives each matrix's [tokens, rows] outputs one after another, in order.
    /// </summary>
    /// <exception cref="ArgumentException">Matrices of different widths, or sizes that do not fit them.</exception>
    public static void MultiplyMany(IReadOnlyList<PackedMatrix> weights, ReadOnlySpan<float> x, int tokens, Span<float> y, KernelIsa? isa = null, KernelPool? pool = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tokens);
        if (weights.Count == 0) return;
        if (x.Length != (long)tokens * weights[0].Columns) throw new ArgumentException($"Expected {tokens} x {weights[0].Columns} activations, got {x.Length}.", nameof(x));
        long outputs = tokens * weights.Sum(w => (long)w.Rows);
        if (y.Length != outputs) throw new ArgumentException($"Expected {outputs} outputs, got {y.Length}.", nameof(y));
        fixed (float* px = x)
        fixed (float* py = y)
            MultiplyMany(weights, px, tokens, py, isa ?? KernelIsas.Best, pool ?? KernelPool.Shared);
    }

    /// <inheritdoc cref="MultiplyMany(IReadOnlyList{PackedMatrix}, ReadOnlySpan{float}, int, Span{float}, KernelIsa?, KernelPool?)"/>
    internal static void MultiplyMany(IReadOnlyList<PackedMatrix> weights, float* x, int tokens, float* y, KernelIsa isa, KernelPool pool)
    {
        Require(isa);
        var parts = new IRangeWork[weights.Count];
        var starts = new int[weights.Count + 1];
        long bytes = 0;
        float* target = y;
        QuantizedActivations? quantized = null;
        float* paired = null;
        for (int m = 0; m < weights.Count; m++)
        {
            if (weights[m].Columns != weights[0].Columns) throw new ArgumentException($"Matrix {m} has {weights[m].Columns} columns, matrix 0 {weights[0].Columns}: one input needs one width.", nameof(weights));
            if (weights[m].Format.IsQuantized()) quantized ??= QuantizedActivations.Of(x, tokens, weights[m].Columns);
            if (paired is null && Bf16Pairs.Serves(isa, weights[m], tokens)) paired = Bf16Pairs.Pair(x, weights[m].Columns);
            parts[m] = Work(new RowWork(weights[m], x, tokens, target), isa, quantized, paired);
            starts[m + 1] = starts[m] + weights[m].Rows;
            target += (long)tokens * weights[m].Rows;
            bytes += weights[m].ByteCount;
        }
        Split(new Concatenated(parts, starts), starts[^1], bytes * Math.Max(1, (tokens + 3) / 4), pool);
    }

    static void Run(RowWork args, KernelIsa isa, KernelPool pool, int rows)
    {
        Require(isa);
        var quantized = args.X is not null && args.Weights.Format.IsQuantized() ? QuantizedActivations.Of(args.X, args.Tokens, args.Weights.Columns) : null;
        var paired = args.X is not null && Bf16Pairs.Serves(isa, args.Weights, args.Tokens) ? Bf16Pairs.Pair(args.X, args.Weights.Columns) : null;
        Split(Work(args, isa, quantized, paired), rows, args.Weights.ByteCount * Math.Max(1, (args.Tokens + 3) / 4), pool);
    }

    /// <summary>Whether the AVX2 integer products use AVX-VNNI where the CPU has it (tests turn it off to run the other path; both give the same sums).</summary>
    internal static bool UseVnni { get; set; } = AvxVnni.IsSupported;

    /// <summary>Before anything runs on <paramref name="isa"/>: the bf16 activations' regrouping is AVX-512 code too.</summary>
    static void Require(KernelIsa isa)
    {
        if (!KernelIsas.IsSupported(isa)) throw new ArgumentException($"This CPU does not support {isa}.", nameof(isa));
    }

    static IRangeWork Work(RowWork args, KernelIsa isa, QuantizedActivations? quantized, float* paired)
    {
        if (paired is not null && args.X is not null && Bf16Pairs.Serves(isa, args.Weights, args.Tokens)) return new PairedRows(args, paired);
        // Int8/int4 products multiply integers with the activations rounded to int8 per block, as llama.cpp does.
        if (quantized is not null)
        {
            bool vnni = UseVnni && AvxVnni.IsSupported;
            return (isa, args.Weights.Format, vnni) switch
            {
                (KernelIsa.Scalar, WeightFormat.Int8, _) => new IntegerRows<ScalarIntegerDots<Int8Row>>(args, quantized),
                (KernelIsa.Scalar, WeightFormat.Int4, _) => new IntegerRows<ScalarIntegerDots<Int4Row>>(args, quantized),
                (KernelIsa.Avx2, WeightFormat.Int8, true) => new IntegerRows<VnniInt8Dots>(args, quantized),
                (KernelIsa.Avx2, WeightFormat.Int8, false) => new IntegerRows<Avx2IntegerDots<Int8Bytes, MaddPairs>>(args, quantized),
                (KernelIsa.Avx2, WeightFormat.Int4, true) => new IntegerRows<Avx2IntegerDots<Int4Bytes, VnniPairs>>(args, quantized),
                (KernelIsa.Avx2, WeightFormat.Int4, false) => new IntegerRows<Avx2IntegerDots<Int4Bytes, MaddPairs>>(args, quantized),
                // One token: the 256-bit VNNI kernel beats the 512-bit one without VNNI; four tokens: the reverse (README, Performance).
                (KernelIsa.Avx512, WeightFormat.Int8, true) => new IntegerRows<Avx512VnniInt8Dots>(args, quantized),
                (KernelIsa.Avx512, WeightFormat.Int8, false) => new IntegerRows<Avx512Int8Dots>(args, quantized),
                (KernelIsa.Avx512, WeightFormat.Int4, _) => new IntegerRows<Avx512Int4Dots>(args, quantized),
                _ => throw new ArgumentOutOfRangeException(nameof(isa)),
            };
        }
        return (isa, args.Weights.Format) switch
        {
            (KernelIsa.Scalar, _) => new Rows<ScalarDots>(args),
            (KernelIsa.Avx2, WeightFormat.F32) => new Rows<Avx2Dots<F32Block>>(args),
            (KernelIsa.Avx2, WeightFormat.F16) => new Rows<Avx2Dots<F16Block>>(args),
            (KernelIsa.Avx2, WeightFormat.BF16) => new Rows<Avx2Dots<BF16Block>>(args),
            (KernelIsa.Avx2, WeightFormat.Int8) => new Rows<Avx2Dots<Int8Block>>(args),
            (KernelIsa.Avx2, WeightFormat.Int4) => new Rows<Avx2Dots<Int4Block>>(args),
            (KernelIsa.Avx512, WeightFormat.F32) => new Rows<Avx512Dots<F32Block>>(args),
            (KernelIsa.Avx512, WeightFormat.F16) => new Rows<Avx512Dots<F16Block>>(args),
            (KernelIsa.Avx512, WeightFormat.BF16) => new Rows<Avx512Dots<BF16Block>>(args),
            (KernelIsa.Avx512, WeightFormat.Int8) => new Rows<Avx512Dots<Int8Block>>(args),
            (KernelIsa.Avx512, WeightFormat.Int4) => new Rows<Avx512Dots<Int4Block>>(args),
            _ => throw new ArgumentOutOfRangeException(nameof(isa)),
        };
    }

    static void Split(IRangeWork work, int rows, long bytes, KernelPool pool)
    {
        // Small products stay on one thread: waking another costs more than it saves below ~256 KiB of weights.
        // Chunks of a multiple of four rows keep the one-token kernels' groups of four whole.
        int grain = bytes < (256 << 10) ? rows : (Math.Max(1, rows / (pool.Threads * 8)) + 3) & ~3;
        pool.For(rows, grain, work);
    }

    /// <summary>Rows of several products numbered one after another: a range may span the end of one and the start of the next.</summary>
    sealed class Concatenated(IRangeWork[] parts, int[] starts) : IRangeWork
    {
        public void Run(int start, int end)
        {
            for (int m = 0; m < parts.Length; m++)
            {
                int from = Math.Max(start, starts[m]), to = Math.Min(end, starts[m + 1]);
                if (from < to) parts[m].Run(from - starts[m], to - starts[m]);
            }
        }
    }

    /// <summary>What a product reads and writes; <see cref="X"/> null means dequantize into <see cref="Y"/>.</summary>
    readonly struct RowWork(PackedMatrix weights, float* x, int tokens, float* y)
    {
        public PackedMatrix Weights { get; } = weights;
        public float* X { get; } = x;
        public int Tokens { get; } = tokens;
        public float* Y { get; } = y;
    }

    /// <summary>
    /// Tokens taken against each row before the next row: a chunk's activations (64 x 8 KiB at width 2048) stay in
    /// the core's cache while every row passes, and the rows are streamed once per chunk.
    /// </summary>
    const int TokenChunk = 64;

    /// <summary>Rows of an int8/int4 matrix times activations rounded to int8 (<see cref="QuantizedActivations"/>), four tokens at a time.</summary>
    sealed class IntegerRows<TDots>(RowWork args, QuantizedActivations x) : IRangeWork where TDots : struct, IIntegerDots
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int start, int end)
        {
            var w = args.Weights;
            int blocks = w.ScalesPerRow, rows = w.Rows, tokens = args.Tokens;
            if (tokens == 1)
            {
                // Decode: one activation row against every row of the range, four at a time at indices that are
                // multiples of four (Rows4 gives Dot1's sums), pointers stepped instead of recomputed.
                var x0 = x.Row(0);
                long rowBytes = w.RowBytes;
                byte* row = w.DataPointer + start * rowBytes;
                Half* rowScales = w.ScalesPointer + (long)start * blocks;
                float* y = args.Y;
                for (int o = start; o < end;)
                {
                    // One call site each: the kernels are inlined here, and more sites exhaust the JIT's inlining budget.
                    int n = o % 4 == 0 && o + 4 <= end ? 4 : 1;
                    if (n == 4) TDots.Rows4(row, rowBytes, rowScales, x0, blocks, y + o);
                    else y[o] = TDots.Dot1(row, rowScales, x0, blocks);
                    o += n;
                    row += n * rowBytes;
                    rowScales += n * blocks;
                }
                return;
            }
            Span<float> four = stackalloc float[4];
            fixed (float* sums = four)
            {
                for (int chunk = 0; chunk < tokens; chunk += TokenChunk)
                for (int o = start; o < end; o++)
                {
                    byte* row = w.DataPointer + o * w.RowBytes;
                    Half* scales = w.ScalesPointer + (long)o * blocks;
                    for (int t = chunk, last = Math.Min(tokens, chunk + TokenChunk); t < last; t += 4)
                    {
                        int n = Math.Min(4, last - t);
                        if (n == 1) sums[0] = TDots.Dot1(row, scales, x.Row(t), blocks);
                        // Fewer than four tokens left: the missing ones repeat the last, and their sums are dropped.
                        else TDots.Dot4(row, scales, x.Row(t), x.Row(t + 1), x.Row(t + Math.Min(2, n - 1)), x.Row(t + Math.Min(3, n - 1)), blocks, sums);
                        for (int k = 0; k < n; k++) args.Y[(long)(t + k) * rows + o] = sums[k];
                    }
                }
            }
        }
    }

    /// <summary>One token against bf16 rows through <see cref="Bf16Pairs"/>, the activations already regrouped.</summary>
    sealed class PairedRows(RowWork args, float* paired) : IRangeWork
    {
        public void Run(int start, int end) => Bf16Pairs.Rows(args.Weights, args.X, paired, args.Y, start, end);
    }

    sealed class Rows<TDots>(RowWork args) : IRangeWork where TDots : struct, IDots
    {
        [ThreadStatic] static float[]? scaleBuffer;

        // Optimised at first call: tiered compilation would run this loop unoptimised (several times slower) until a
        // background compile, starved on a busy machine, replaces it, and the first tokens of a process are the slow ones.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int start, int end)
        {
            var w = args.Weights;
            int columns = w.Columns, rows = w.Rows, perRow = w.ScalesPerRow, tokens = args.Tokens;
            bool vectorised = TDots.Vectorised;
            if (args.X is not null && tokens == 1 && vectorised && perRow == 0)
            {
                OneToken(start, end);
                return;
            }
            var format = w.Format;
            int blocks = vectorised ? columns / WeightFormats.BlockSize : 0;
            int tail = blocks * WeightFormats.BlockSize;
            var scaleFloats = Buffer(ref scaleBuffer, Math.Max(1, perRow));
            Span<float> four = stackalloc float[4];
            fixed (float* scales = scaleFloats)
            fixed (float* sums = four)
            {
                for (int chunk = 0; chunk < Math.Max(1, tokens); chunk += TokenChunk)
                for (int o = start; o < end; o++)
                {
                    if (args.X is null)
                    {
                        RowDecoder.Decode<TDots>(w, o, scales, args.Y + (long)o * columns);
                        continue;
                    }
                    byte* row = w.DataPointer + o * w.RowBytes;
                    Half* halfScales = w.ScalesPointer + (long)o * perRow;
                    if (perRow > 0 && vectorised) TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(halfScales, perRow), scaleFloats);
                    for (int t = chunk, last = Math.Min(tokens, chunk + TokenChunk); t < last; t += 4)
                    {
                        int n = Math.Min(4, last - t);
                        float* x0 = args.X + (long)t * columns;
                        if (n == 1) sums[0] = TDots.Dot1(row, scales, x0, blocks);
                        else
                        {
                            // Fewer than four tokens left: the missing ones repeat the last, and their sums are dropped.
                            float* x1 = x0 + columns, x2 = x0 + Math.Min(2, n - 1) * columns, x3 = x0 + Math.Min(3, n - 1) * columns;
                            TDots.Dot4(row, scales, x0, x1, x2, x3, blocks, sums);
                        }
                        for (int k = 0; k < n; k++)
                        {
                            float* xk = x0 + (long)k * columns;
                            float sum = sums[k];
                            for (int i = tail; i < columns; i++) sum += BlockQuantizer.Element(format, row, halfScales, i) * xk[i];
                            args.Y[(long)(t + k) * rows + o] = sum;
                        }
                    }
                }
            }
        }

        /// <summary>
        /// One token (a decode step) against unscaled rows (f32, bf16, f16), the kernels prefetching as they go
        /// (<see cref="Prefetch"/>): f32 in groups of four rows at indices that are multiples of four through
        /// <see cref="IDots.DotRows4"/> when rows are at least <see cref="FourRowBytes"/> long, the rest one by one; both
        /// give Dot1's sums, so a row's result never depends on how the rows were split among threads.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void OneToken(int start, int end)
        {
            var w = args.Weights;
            int columns = w.Columns, blocks = columns / WeightFormats.BlockSize, tail = blocks * WeightFormats.BlockSize;
            var format = w.Format;
            float* x = args.X, y = args.Y;
            // Groups for f32 only: four rows of bf16 or f16 widen too many registers at once (measured 1 thread, 1.1B rows: f32 +11%, bf16 -28%, f16 -21%).
            bool grouped = format == WeightFormat.F32 && w.RowBytes >= FourRowBytes;
            Span<float> four = stackalloc float[4];
            fixed (float* sums = four)
            {
                for (int o = start; o < end;)
                {
                    byte* row = w.DataPointer + o * w.RowBytes;
                    int n = grouped && o % 4 == 0 && o + 4 <= end ? 4 : 1;
                    if (n == 4) TDots.DotRows4(row, w.RowBytes, x, blocks, sums);
                    else sums[0] = TDots.Dot1(row, null, x, blocks);
                    for (int k = 0; k < n; k++)
                    {
                        float sum = sums[k];
                        byte* rowK = row + k * w.RowBytes;
                        for (int i = tail; i < columns; i++) sum += BlockQuantizer.Element(format, rowK, null, i) * x[i];
                        y[o + k] = sum;
                    }
                    o += n;
                }
            }
        }

        static float[] Buffer(ref float[]? buffer, int length) =>
            buffer is { } b && b.Length >= length ? b : buffer = new float[Math.Max(length, 1024)];
    }
}
