using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlavaModal.Core.Kernels;

/// <summary>
/// Products of many tokens (prefill) with int8 rows in integers on AVX-512 BW, as the one-token kernels do: the
/// activations rounded to int8 per block (<see cref="QuantizedActivations"/>) and widened to int16 once per slice, the
/// weights widened and repacked 16 rows at a time so that one vector holds two consecutive columns of each row. A
/// token's two values broadcast to all lanes meet them in one <c>vpmaddwd</c>: lane r gets row r's two products,
/// summed; a block's 16 such steps add in int32 (at most 32 · 127² = 516,128) and are scaled by the row's and the
/// token's block scales. Two multiply-adds per int32 lane an instruction, where the f32 tiled product
/// (<see cref="Gemm"/>) spends one FMA per f32 lane; on Zen 4, which issues FMAs twice as often, that is the FMA peak
/// again, and the 10-25% gained from 128 tokens (README, Performance) is the panels: bytes widened, not blocks decoded
/// to floats. No overflow: <c>vpmaddubsw</c>, which int4 uses (<see cref="Int4Gemm"/>), would saturate on int8 × int8,
/// and .NET 10 offers 512-bit VNNI only through AVX10.
/// </summary>
/// <remarks>Written by hand: libtorch has no product for these block formats. AVX-512 BW only: on AVX2 a vector holds
/// half as many rows, and int8 prompts keep the tiled product there.</remarks>
static unsafe class Int8Gemm
{
    /// <summary>Tokens per tile.</summary>
    const int Height = 4;
    /// <summary>Rows per panel: the int32 lanes of a 512-bit vector.</summary>
    const int Width = 16;
    /// <summary>Tokens per pass over all panels, as <see cref="Int4Gemm"/>: a pass's widened activations stay in L2/L3 while every panel meets them.</summary>
    const int TokenSlice = 256;
    const int Block = WeightFormats.BlockSize;

    /// <summary>Whether this product serves <paramref name="weights"/> on <paramref name="isa"/>: int8 rows of whole blocks, AVX-512 BW.</summary>
    internal static bool Serves(PackedMatrix weights, KernelIsa isa) =>
        isa == KernelIsa.Avx512 && KernelIsas.IsSupported(isa) && weights.Format == WeightFormat.Int8 && weights.Columns % Block == 0;

    /// <summary>Computes <paramref name="y"/> [tokens, rows] from <paramref name="x"/> [tokens, columns].</summary>
    /// <exception cref="ArgumentException">A matrix or instruction set this product does not serve (see <see cref="Serves"/>).</exception>
    internal static void Multiply(PackedMatrix weights, float* x, int tokens, float* y, KernelIsa isa, KernelPool pool)
    {
        if (!Serves(weights, isa)) throw new ArgumentException($"The int8 integer product needs int8 rows of whole {Block}-column blocks and AVX-512 BW; got {weights.Format.Name()} rows of {weights.Columns} on {isa}{(KernelIsas.IsSupported(isa) ? "" : " (not supported here)")}.", nameof(weights));
        int columns = weights.Columns;
        short* wide = Widened.For((long)Math.Min(tokens, TokenSlice) * columns);
        for (int first = 0; first < tokens; first += TokenSlice)
        {
            int count = Math.Min(TokenSlice, tokens - first);
            var quantized = QuantizedActivations.Of(x + (long)first * columns, count, columns);
            for (int t = 0; t < count; t++)
            {
                sbyte* q = quantized.Row(t).Values;
                short* target = wide + (long)t * columns;
                for (int c = 0; c < columns; c += Block)
                    Avx512BW.ConvertToVector512Int16(Vector256.Load(q + c)).Store(target + c);
            }
            pool.For((weights.Rows + Width - 1) / Width, 1, new PanelWork(weights, quantized, wide, count, y + (long)first * weights.Rows));
        }
    }

    /// <summary>The calling thread's activations widened to int16, grown to the largest slice seen (pinned, so a prompt's products allocate nothing after the first).</summary>
    static class Widened
    {
        [ThreadStatic] static short[]? values;

        internal static short* For(long count)
        {
            // 32 more than asked: aligning the start to 64 bytes may skip up to 31 of them.
            if (values is null || values.LongLength < count + 32) values = GC.AllocateUninitializedArray<short>(checked((int)count + 32), pinned: true);
            fixed (short* p = values) return (short*)(((nint)p + 63) & ~(nint)63);
        }
    }

    sealed class PanelWork(PackedMatrix w, QuantizedActivations x, short* wide, int tokens, float* y) : IRangeWork
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int start, int end)
        {
            int blocks = w.Columns / Block, rows = w.Rows, columns = w.Columns;
            // The tiled product's buffers: a panel of 16 x columns floats holds the 16 x columns int16 values, the scratch the block scales.
            var buffers = PanelBuffers.ForThread(columns, Width, w.ScalesPerRow);
            var panel = (int*)buffers.Panel;
            float* scales = buffers.Scratch;
            float* tile = stackalloc float[Height * Width];
            for (int p = start; p < end; p++)
            {
                int first = p * Width, count = Math.Min(Width, rows - first);
                Pack(w, first, count, panel, scales);
                for (int t = 0; t < tokens; t += Height)
                {
                    int n = Math.Min(Height, tokens - t);
                    // Fewer than four tokens left: the missing ones repeat the last, and their sums are dropped.
                    int t1 = t + Math.Min(1, n - 1), t2 = t + Math.Min(2, n - 1), t3 = t + Math.Min(3, n - 1);
                    Tile(panel, scales, blocks, wide + (long)t * columns, wide + (long)t1 * columns, wide + (long)t2 * columns, wide + (long)t3 * columns,
                        x.Row(t).Scales, x.Row(t1).Scales, x.Row(t2).Scales, x.Row(t3).Scales, tile);
                    for (int i = 0; i < n; i++)
                        new ReadOnlySpan<float>(tile + i * Width, count).CopyTo(new Span<float>(y + (long)(t + i) * rows + first, count));
                }
            }
        }
    }

    /// <summary>
    /// Rows [first, first + count) as a panel: per block, per pair of columns, the pair of each of the 16 rows as two
    /// int16 (one int32), a transpose of the rows' widened blocks (at first scalar copies: 12-15% of a 256-token
    /// product); and each block's row scales as f32. Rows past <paramref name="count"/> repeat the last row
    /// with scale 0, so their sums are 0 (and dropped).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Pack(PackedMatrix w, int first, int count, int* panel, float* scales)
    {
        var rows = stackalloc byte*[Width];
        QuantizedPanel.Rows(w, first, count, Width, rows, scales);
        // Four perfect shuffles transpose 16 x 16 int32: each output vector interleaves vector i with vector i + 8.
        var low = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        var high = low + Vector512.Create(8);
        var a = stackalloc Vector512<int>[Width];
        var b = stackalloc Vector512<int>[Width];
        for (int block = 0, blocks = w.Columns / Block; block < blocks; block++)
        {
            // Each row's block widened: 16 pairs a row, lane j pair j.
            for (int r = 0; r < Width; r++)
                a[r] = Avx512BW.ConvertToVector512Int16(Vector256.Load((sbyte*)rows[r] + block * Block)).AsInt32();
            Vector512<int>* from = a, to = b;
            for (int stage = 0; stage < 4; stage++)
            {
                for (int i = 0; i < Width / 2; i++)
                {
                    to[2 * i] = Avx512F.PermuteVar16x32x2(from[i], low, from[i + Width / 2]);
                    to[2 * i + 1] = Avx512F.PermuteVar16x32x2(from[i], high, from[i + Width / 2]);
                }
                var swap = from;
                from = to;
                to = swap;
            }
            // Now vector j holds pair j of rows 0-15.
            int* target = panel + block * Width * (Block / 2);
            for (int j = 0; j < Block / 2; j++) from[j].Store(target + j * Width);
        }
    }

    /// <summary>Four tokens against a packed panel: <paramref name="tile"/> receives 4 × 16 sums, token by token.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile(int* panel, float* scales, int blocks, short* x0, short* x1, short* x2, short* x3, float* d0, float* d1, float* d2, float* d3, float* tile)
    {
        Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (int b = 0; b < blocks; b++, panel += Width * (Block / 2))
        {
            Vector512<int> s0 = default, s1 = default, s2 = default, s3 = default;
            int* p0 = (int*)(x0 + b * Block), p1 = (int*)(x1 + b * Block), p2 = (int*)(x2 + b * Block), p3 = (int*)(x3 + b * Block);
            for (int j = 0; j < Block / 2; j++)
            {
                var w = Vector512.Load(panel + j * Width).AsInt16();
                s0 += Avx512BW.MultiplyAddAdjacent(w, Vector512.Create(p0[j]).AsInt16());
                s1 += Avx512BW.MultiplyAddAdjacent(w, Vector512.Create(p1[j]).AsInt16());
                s2 += Avx512BW.MultiplyAddAdjacent(w, Vector512.Create(p2[j]).AsInt16());
                s3 += Avx512BW.MultiplyAddAdjacent(w, Vector512.Create(p3[j]).AsInt16());
            }
            var rowScales = Vector512.Load(scales + b * Width);
            f0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(s0), rowScales * Vector512.Create(d0[b]), f0);
            f1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(s1), rowScales * Vector512.Create(d1[b]), f1);
            f2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(s2), rowScales * Vector512.Create(d2[b]), f2);
            f3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(s3), rowScales * Vector512.Create(d3[b]), f3);
        }
        f0.Store(tile);
        f1.Store(tile + Width);
        f2.Store(tile + 2 * Width);
        f3.Store(tile + 3 * Width);
    }
}
