using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LlavaModal.Core.Kernels;

/// <summary>
/// Products of many tokens (prefill) with int8 rows in integers, as the one-token kernels do: the activations rounded to
/// int8 per block (<see cref="QuantizedActivations"/>) and widened to int16 once per slice, the weights widened and
/// repacked a panel of rows at a time (16 on AVX-512 BW, 8 on AVX2: the int32 lanes of a vector) so that one vector
/// holds two consecutive columns of each row. A token's two values broadcast to all lanes meet them in one
/// <c>vpmaddwd</c>: lane r gets row r's two products, summed; a block's 16 such steps add in int32 (at most
/// 32 · 127² = 516,128) and are scaled by the row's and the token's block scales. Two multiply-adds per int32 lane an
/// instruction, where the f32 tiled product (<see cref="Gemm"/>) spends one FMA per f32 lane; on Zen 4, which issues
/// 512-bit FMAs twice as often, that is the FMA peak again, and the 10-25% gained from 128 tokens (README, "How int8
/// and int4 multiply") is the panels: bytes widened, not blocks decoded to floats. No overflow: <c>vpmaddubsw</c>,
/// which int4 uses (<see cref="Int4Gemm"/>), would saturate on int8 × int8, and .NET 10 offers 512-bit VNNI only
/// through AVX10.
/// </summary>
/// <remarks>Written by hand: libtorch has no product for these block formats.</remarks>
static unsafe class Int8Gemm
{
    /// <summary>Tokens per tile.</summary>
    const int Height = 4;
    /// <summary>Tokens per pass over all panels, as <see cref="Int4Gemm"/>: a pass's widened activations stay in L2/L3 while every panel meets them.</summary>
    const int TokenSlice = 256;
    const int Block = WeightFormats.BlockSize;

    /// <summary>Whether this product serves <paramref name="weights"/> on <paramref name="isa"/>: int8 rows of whole blocks, AVX-512 BW or AVX2.</summary>
    internal static bool Serves(PackedMatrix weights, KernelIsa isa) =>
        isa != KernelIsa.Scalar && KernelIsas.IsSupported(isa) && weights.Format == WeightFormat.Int8 && weights.Columns % Block == 0;

    /// <summary>Computes <paramref name="y"/> [tokens, rows] from <paramref name="x"/> [tokens, columns] on <paramref name="isa"/>'s tile.</summary>
    /// <exception cref="ArgumentException">A matrix or instruction set this product does not serve (see <see cref="Serves"/>).</exception>
    internal static void Multiply(PackedMatrix weights, float* x, int tokens, float* y, KernelIsa isa, KernelPool pool)
    {
        if (!Serves(weights, isa)) throw new ArgumentException($"The int8 integer product needs int8 rows of whole {Block}-column blocks and AVX-512 BW or AVX2; got {weights.Format.Name()} rows of {weights.Columns} on {isa}{(KernelIsas.IsSupported(isa) ? "" : " (not supported here)")}.", nameof(weights));
        int columns = weights.Columns;
        short* wide = Widened.For((long)Math.Min(tokens, TokenSlice) * columns);
        for (int first = 0; first < tokens; first += TokenSlice)
        {
            int count = Math.Min(TokenSlice, tokens - first);
            var quantized = QuantizedActivations.Of(x + (long)first * columns, count, columns);
            for (int t = 0; t < count; t++) Widen(quantized.Row(t).Values, wide + (long)t * columns, columns);
            float* ys = y + (long)first * weights.Rows;
            if (isa == KernelIsa.Avx512) Run(new PanelWork<Avx512Int8Tile>(weights, quantized, wide, count, ys), pool);
            else Run(new PanelWork<Avx2Int8Tile>(weights, quantized, wide, count, ys), pool);
        }
    }

    /// <summary>int8 to int16, 32 at a time (whole blocks). By hand: <c>TensorPrimitives.ConvertTruncating</c> made a 1.1B prompt 3% slower.</summary>
    static void Widen(sbyte* q, short* target, int columns)
    {
        for (int c = 0; c < columns; c += 32)
        {
            var (low, high) = Vector256.Widen(Vector256.Load(q + c));
            low.Store(target + c);
            high.Store(target + c + 16);
        }
    }

    static void Run<TTile>(PanelWork<TTile> work, KernelPool pool) where TTile : struct, IInt8Tile => pool.For(work.Panels, 1, work);

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

    sealed class PanelWork<TTile>(PackedMatrix w, QuantizedActivations x, short* wide, int tokens, float* y) : IRangeWork where TTile : struct, IInt8Tile
    {
        public int Panels => (w.Rows + TTile.Width - 1) / TTile.Width;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int start, int end)
        {
            int width = TTile.Width, blocks = w.Columns / Block, rows = w.Rows, columns = w.Columns;
            // The tiled product's buffers: a panel of width x columns floats holds the width x columns int16 values, the scratch the block scales.
            var buffers = PanelBuffers.ForThread(columns, width, w.ScalesPerRow);
            var panel = (int*)buffers.Panel;
            float* scales = buffers.Scratch;
            float* tile = stackalloc float[Height * width];
            for (int p = start; p < end; p++)
            {
                int first = p * width, count = Math.Min(width, rows - first);
                TTile.Pack(w, first, count, panel, scales);
                for (int t = 0; t < tokens; t += Height)
                {
                    int n = Math.Min(Height, tokens - t);
                    // Fewer than four tokens left: the missing ones repeat the last, and their sums are dropped.
                    int t1 = t + Math.Min(1, n - 1), t2 = t + Math.Min(2, n - 1), t3 = t + Math.Min(3, n - 1);
                    TTile.Run(panel, scales, blocks, wide + (long)t * columns, wide + (long)t1 * columns, wide + (long)t2 * columns, wide + (long)t3 * columns,
                        x.Row(t).Scales, x.Row(t1).Scales, x.Row(t2).Scales, x.Row(t3).Scales, tile);
                    for (int i = 0; i < n; i++)
                        new ReadOnlySpan<float>(tile + i * width, count).CopyTo(new Span<float>(y + (long)(t + i) * rows + first, count));
                }
            }
        }
    }
}
