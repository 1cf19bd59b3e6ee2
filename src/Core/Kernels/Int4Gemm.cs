using System.Runtime.CompilerServices;

namespace LlavaModal.Core.Kernels;

/// <summary>
/// Products of many tokens (prefill) with int4 rows in integers, as the one-token kernels do: the activations rounded to
/// int8 per block (<see cref="QuantizedActivations"/>), the weights repacked a panel of rows at a time (16 on AVX-512, 8
/// on AVX2: the int32 lanes of a vector) so that one load holds four consecutive values (the stored nibbles,
/// <c>w + 8</c>, 0-15) of each row. A token's four bytes broadcast to all lanes meet them in one <c>vpmaddubsw</c>: lane
/// pair 2r, 2r + 1 holds two products each of row r. A block's eight such steps are added in int16 (at most
/// 8 · 2 · 15 · 127 = 30,480, so nothing saturates), one <c>vpmaddwd</c> makes lane r row r's block sum, which starts
/// from <c>-8 · Σq</c> (the nibbles' offset) and is scaled by the row's and the token's block scales. No horizontal
/// adds, and four multiply-adds per instruction lane where the f32 tiled product (<see cref="Gemm"/>) spends one FMA
/// lane each.
/// </summary>
/// <remarks>
/// Written by hand: libtorch has no product for these block formats. int4 only: int8 weights times int8 activations
/// overflow <c>vpmaddubsw</c>'s int16 pairs, and the sign fixes that avoid it cost what the f32 FMAs cost; and .NET 10
/// offers 512-bit VNNI only through AVX10 (README, Performance).
/// </remarks>
static unsafe class Int4Gemm
{
    /// <summary>Tokens per tile.</summary>
    const int Height = 4;
    /// <summary>Tokens per pass over all panels: a pass's rounded activations (256 x 5632 bytes at most for 1.1B) stay in L2/L3 while every panel meets them.</summary>
    const int TokenSlice = 256;
    const int Block = WeightFormats.BlockSize;

    /// <summary>Whether this product serves <paramref name="weights"/> on <paramref name="isa"/>: int4 rows of whole blocks, AVX-512 BW or AVX2.</summary>
    internal static bool Serves(PackedMatrix weights, KernelIsa isa) =>
        isa != KernelIsa.Scalar && KernelIsas.IsSupported(isa) && weights.Format == WeightFormat.Int4 && weights.Columns % Block == 0;

    /// <summary>Computes <paramref name="y"/> [tokens, rows] from <paramref name="x"/> [tokens, columns] on <paramref name="isa"/>'s tile.</summary>
    /// <exception cref="ArgumentException">A matrix or instruction set this product does not serve (see <see cref="Serves"/>).</exception>
    internal static void Multiply(PackedMatrix weights, float* x, int tokens, float* y, KernelIsa isa, KernelPool pool)
    {
        if (!Serves(weights, isa)) throw new ArgumentException($"The int4 integer product needs int4 rows of whole {Block}-column blocks and AVX-512 BW or AVX2; got {weights.Format.Name()} rows of {weights.Columns} on {isa}{(KernelIsas.IsSupported(isa) ? "" : " (not supported here)")}.", nameof(weights));
        for (int first = 0; first < tokens; first += TokenSlice)
        {
            int count = Math.Min(TokenSlice, tokens - first);
            var quantized = QuantizedActivations.Of(x + (long)first * weights.Columns, count, weights.Columns);
            float* ys = y + (long)first * weights.Rows;
            if (isa == KernelIsa.Avx512) Run(new PanelWork<Avx512Int4Tile>(weights, quantized, count, ys), pool);
            else Run(new PanelWork<Avx2Int4Tile>(weights, quantized, count, ys), pool);
        }
    }

    static void Run<TTile>(PanelWork<TTile> work, KernelPool pool) where TTile : struct, IInt4Tile => pool.For(work.Panels, 1, work);

    sealed class PanelWork<TTile>(PackedMatrix w, QuantizedActivations x, int tokens, float* y) : IRangeWork where TTile : struct, IInt4Tile
    {
        public int Panels => (w.Rows + TTile.Width - 1) / TTile.Width;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int start, int end)
        {
            int width = TTile.Width, blocks = w.Columns / Block, rows = w.Rows;
            // The tiled product's buffers: a panel of width x columns floats holds the bytes, the scratch the block scales.
            var buffers = PanelBuffers.ForThread(w.Columns, width, w.ScalesPerRow);
            byte* panel = (byte*)buffers.Panel;
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
                    TTile.Run(panel, scales, blocks, x.Row(t), x.Row(t + Math.Min(1, n - 1)), x.Row(t + Math.Min(2, n - 1)), x.Row(t + Math.Min(3, n - 1)), tile);
                    for (int i = 0; i < n; i++)
                        new ReadOnlySpan<float>(tile + i * width, count).CopyTo(new Span<float>(y + (long)(t + i) * rows + first, count));
                }
            }
        }
    }
}
