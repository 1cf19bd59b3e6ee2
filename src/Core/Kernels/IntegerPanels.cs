using System.Runtime.CompilerServices;

namespace LlavaModal.Core.Kernels;

/// <summary>One format's and instruction set's part of an integer product (<see cref="Int4Gemm"/>, <see cref="Int8Gemm"/>): a panel's packing and four tokens against it.</summary>
unsafe interface IIntegerTile
{
    /// <summary>Rows per panel: the int32 lanes of one vector.</summary>
    static abstract int Width { get; }

    /// <summary>
    /// Rows [first, first + count) as a panel, laid out for the tile's instructions (int4: per block, per group of four
    /// columns, the four nibbles of each row; int8: per pair of columns, the pair of each row widened to int16); and each
    /// block's row scales as f32. Rows past <paramref name="count"/> repeat the last row with scale 0, so their sums are
    /// 0 (and dropped).
    /// </summary>
    static abstract void Pack(PackedMatrix w, int first, int count, byte* panel, float* scales);

    /// <summary>Four tokens against a packed panel: <paramref name="tile"/> receives 4 × <see cref="Width"/> sums, token by token.</summary>
    /// <remarks>Each format reads what it needs of the rows: int4 their values and <see cref="QuantizedRow.Biases"/>
    /// (<c>-128 · Σq</c>; shifted right by 4, <c>-8 · Σq</c> exactly), int8 <see cref="QuantizedRow.Wide"/>.</remarks>
    static abstract void Run(byte* panel, float* scales, int blocks, QuantizedRow x0, QuantizedRow x1, QuantizedRow x2, QuantizedRow x3, float* tile);
}

/// <summary>
/// What the integer products' packing shares (both int4 tiles and <see cref="Int8Gemm"/>): a panel's row pointers and
/// block scales. For int4, a block's 16 stored bytes of a row, as four uints, are its groups 0-3 in their low
/// nibbles and 4-7 in their high ones (BlockQuantizer's layout: element i in byte i's low nibble, i + 16 in its high
/// one), so a block of the panel is the rows' uints transposed, then masked and shifted: a repacking per call that is
/// cheap against the product even for a few tokens.
/// </summary>
static unsafe class QuantizedPanel
{
    /// <summary>The panel's <paramref name="width"/> row pointers (past <paramref name="count"/>, the last row again) and its scales, block by block (0 past <paramref name="count"/>).</summary>
    internal static void Rows(PackedMatrix w, int first, int count, int width, byte** rows, float* scales)
    {
        int blocks = w.Columns / WeightFormats.BlockSize, perRow = w.ScalesPerRow;
        for (int r = 0; r < width; r++)
        {
            int row = first + Math.Min(r, count - 1);
            rows[r] = w.DataPointer + row * w.RowBytes;
            Half* rowScales = w.ScalesPointer + (long)row * perRow;
            for (int b = 0; b < blocks; b++) scales[b * width + r] = r < count ? (float)rowScales[b] : 0;
        }
    }
}

/// <summary>
/// The panel loop the integer products share: each thread packs a panel of <c>TTile.Width</c> rows at a time into its
/// own buffer, then runs every four tokens of the slice against it.
/// </summary>
static unsafe class IntegerPanels
{
    /// <summary>Tokens per tile.</summary>
    const int Height = 4;

    /// <summary>Tokens per pass over all panels: a pass's rounded activations (256 x 5632 bytes at most for 1.1B, twice that widened) stay in L2/L3 while every panel meets them.</summary>
    const int TokenSlice = 256;

    /// <summary>
    /// <paramref name="y"/> [tokens, rows] from <paramref name="x"/> [tokens, columns]: the activations rounded (and,
    /// for tiles that read <see cref="QuantizedRow.Wide"/>, widened) a slice at a time, then the panels of
    /// <paramref name="isa"/>'s tile split over <paramref name="pool"/>'s threads.
    /// </summary>
    internal static void Multiply<TAvx512, TAvx2>(PackedMatrix w, float* x, int tokens, float* y, KernelIsa isa, KernelPool pool, bool widen)
        where TAvx512 : struct, IIntegerTile where TAvx2 : struct, IIntegerTile
    {
        for (int first = 0; first < tokens; first += TokenSlice)
        {
            int count = Math.Min(TokenSlice, tokens - first);
            var quantized = QuantizedActivations.Of(x + (long)first * w.Columns, count, w.Columns);
            if (widen) quantized.Widen();
            float* ys = y + (long)first * w.Rows;
            if (isa == KernelIsa.Avx512) pool.For(Panels<TAvx512>(w), 1, new PanelWork<TAvx512>(w, quantized, count, ys));
            else pool.For(Panels<TAvx2>(w), 1, new PanelWork<TAvx2>(w, quantized, count, ys));
        }
    }

    static int Panels<TTile>(PackedMatrix w) where TTile : struct, IIntegerTile => (w.Rows + TTile.Width - 1) / TTile.Width;

    sealed class PanelWork<TTile>(PackedMatrix w, QuantizedActivations x, int tokens, float* y) : IRangeWork where TTile : struct, IIntegerTile
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int start, int end)
        {
            int width = TTile.Width, blocks = w.Columns / WeightFormats.BlockSize, rows = w.Rows;
            // The tiled product's buffers: a panel of width x columns floats holds the packed integers, the scratch the block scales.
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
