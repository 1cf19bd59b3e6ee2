using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace LlavaModal.Core.Kernels;

/// <summary>
/// Products of many tokens (prefill) with a <see cref="PackedMatrix"/>, <c>y[t, o] = Σᵢ W[o, i] x[t, i]</c>, as a
/// tiled matrix-matrix product: the weights are decoded to f32 a panel of <see cref="IGemmTile.Width"/> rows at a time,
/// transposed so each step of a tile loads one panel row, and every token tile of a block then runs against the panel
/// while it sits in cache. Threads take panels. Any stored format is decoded into the same f32 panels, so one tile
/// serves all formats, and a panel's decoding is paid once per block of tokens.
/// </summary>
/// <remarks>Written by hand: libtorch's f32 GEMM takes MKL's generic path on AMD CPUs (about a fifth of the FMA peak
/// measured here), and it would need the whole weight dequantized first; see the README's Performance section.</remarks>
static unsafe class Gemm
{
    /// <summary>Tokens run against a panel before the next part of its depth: their activations for one depth chunk stay in L2.</summary>
    const int TokenBlock = 128;
    /// <summary>Tokens per pass over all panels (a panel's packing is then under 3% of its products).</summary>
    const int TokenSlice = 256;
    /// <summary>Depth taken per tile call: a tile's share of the panel (256 × 32 floats, 32 KiB) stays in L1.</summary>
    const int DepthChunk = 256;

    /// <summary>Computes <paramref name="y"/> [tokens, rows] from <paramref name="x"/> [tokens, columns].</summary>
    /// <exception cref="ArgumentException">Sizes that do not fit the matrix, or an instruction set this CPU lacks.</exception>
    internal static void Multiply(PackedMatrix weights, ReadOnlySpan<float> x, int tokens, Span<float> y, KernelIsa? isa = null, KernelPool? pool = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tokens);
        if (x.Length != (long)tokens * weights.Columns) throw new ArgumentException($"Expected {tokens} x {weights.Columns} activations, got {x.Length}.", nameof(x));
        if (y.Length != (long)tokens * weights.Rows) throw new ArgumentException($"Expected {tokens} x {weights.Rows} outputs, got {y.Length}.", nameof(y));
        var chosen = isa ?? KernelIsas.Best;
        if (!KernelIsas.IsSupported(chosen)) throw new ArgumentException($"This CPU does not support {chosen}.", nameof(isa));
        fixed (float* px = x)
        fixed (float* py = y)
            Multiply(weights, px, tokens, py, chosen, pool ?? KernelPool.Shared);
    }

    /// <summary>Computes <paramref name="y"/> [tokens, rows] from <paramref name="x"/> [tokens, columns] on <paramref name="isa"/>'s tile.</summary>
    internal static void Multiply(PackedMatrix weights, float* x, int tokens, float* y, KernelIsa isa, KernelPool pool)
    {
        // Long inputs go a slice of tokens at a time, every panel packed again for each: a slice's activations stay in
        // cache while all panels pass (an image's 3,645 patches at width 1152 are 17 MB, read once per panel otherwise).
        for (int first = 0; first < tokens; first += TokenSlice)
        {
            int count = Math.Min(TokenSlice, tokens - first);
            float* xs = x + (long)first * weights.Columns, ys = y + (long)first * weights.Rows;
            var work = isa switch
            {
                KernelIsa.Avx512 => Work<Avx512Tile>(weights, xs, count, ys, isa),
                KernelIsa.Avx2 => Work<Avx2Tile>(weights, xs, count, ys, isa),
                _ => Work<ScalarTile>(weights, xs, count, ys, isa),
            };
            pool.For(work.Panels, 1, work);
        }
    }

    static PanelWork Work<TTile>(PackedMatrix w, float* x, int tokens, float* y, KernelIsa isa) where TTile : struct, IGemmTile => (isa, w.Format) switch
    {
        (KernelIsa.Avx512, WeightFormat.F32) => new PanelWork<TTile, Avx512Packer<F32Block>>(w, x, tokens, y),
        (KernelIsa.Avx512, WeightFormat.BF16) => new PanelWork<TTile, Avx512Packer<BF16Block>>(w, x, tokens, y),
        (KernelIsa.Avx512, WeightFormat.F16) => new PanelWork<TTile, Avx512Packer<F16Block>>(w, x, tokens, y),
        (KernelIsa.Avx512, WeightFormat.Int8) => new PanelWork<TTile, Avx512Packer<Int8Block>>(w, x, tokens, y),
        (KernelIsa.Avx512, WeightFormat.Int4) => new PanelWork<TTile, Avx512Packer<Int4Block>>(w, x, tokens, y),
        (KernelIsa.Avx2, WeightFormat.F32) => new PanelWork<TTile, DecodingPacker<Avx2Dots<F32Block>>>(w, x, tokens, y),
        (KernelIsa.Avx2, WeightFormat.BF16) => new PanelWork<TTile, DecodingPacker<Avx2Dots<BF16Block>>>(w, x, tokens, y),
        (KernelIsa.Avx2, WeightFormat.F16) => new PanelWork<TTile, DecodingPacker<Avx2Dots<F16Block>>>(w, x, tokens, y),
        (KernelIsa.Avx2, WeightFormat.Int8) => new PanelWork<TTile, DecodingPacker<Avx2Dots<Int8Block>>>(w, x, tokens, y),
        (KernelIsa.Avx2, WeightFormat.Int4) => new PanelWork<TTile, DecodingPacker<Avx2Dots<Int4Block>>>(w, x, tokens, y),
        _ => new PanelWork<TTile, DecodingPacker<ScalarDots>>(w, x, tokens, y),
    };

    abstract class PanelWork : IRangeWork
    {
        public abstract int Panels { get; }
        public abstract void Run(int start, int end);
    }

    sealed class PanelWork<TTile, TPacker>(PackedMatrix w, float* x, int tokens, float* y) : PanelWork
        where TTile : struct, IGemmTile where TPacker : struct, IPanelPacker
    {
        public override int Panels => (w.Rows + TTile.Width - 1) / TTile.Width;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public override void Run(int start, int end)
        {
            int width = TTile.Width, height = TTile.Height, columns = w.Columns, rows = w.Rows;
            var buffers = PanelBuffers.ForThread(columns, width, w.ScalesPerRow);
            float* panel = buffers.Panel, scratch = buffers.Scratch;
            float* tile = stackalloc float[height * width];
            for (int p = start; p < end; p++)
            {
                int first = p * width, count = Math.Min(width, rows - first);
                TPacker.Pack(w, first, count, width, panel, scratch);
                for (int block = 0; block < tokens; block += TokenBlock)
                {
                    int blockEnd = Math.Min(tokens, block + TokenBlock);
                    for (int depth = 0; depth < columns; depth += DepthChunk)
                    {
                        int chunk = Math.Min(DepthChunk, columns - depth);
                        bool accumulate = depth > 0;
                        for (int t = block; t < blockEnd; t += height)
                        {
                            int n = Math.Min(height, blockEnd - t);
                            float* xt = x + (long)t * columns + depth;
                            float* yt = y + (long)t * rows + first;
                            if (n == height && count == width)
                            {
                                TTile.Run(panel + (long)depth * width, chunk, xt, columns, n, yt, rows, accumulate);
                                continue;
                            }
                            // An edge tile (the last tokens, or the last rows): sums go through a full-size buffer.
                            if (accumulate)
                                for (int i = 0; i < n; i++) new ReadOnlySpan<float>(yt + (long)i * rows, count).CopyTo(new Span<float>(tile + i * width, count));
                            TTile.Run(panel + (long)depth * width, chunk, xt, columns, n, tile, width, accumulate);
                            for (int i = 0; i < n; i++) new ReadOnlySpan<float>(tile + i * width, count).CopyTo(new Span<float>(yt + (long)i * rows, count));
                        }
                    }
                }
            }
        }
    }
}

/// <summary>Decodes one stored row to f32 on the <see cref="IDots"/> path asked for, the columns past the last whole block one by one.</summary>
static unsafe class RowDecoder
{
    // scales: room for the row's block scales widened to f32.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Decode<TDots>(PackedMatrix w, int row, float* scales, float* target) where TDots : struct, IDots
    {
        int columns = w.Columns, perRow = w.ScalesPerRow;
        int blocks = TDots.Vectorised ? columns / WeightFormats.BlockSize : 0;
        byte* data = w.DataPointer + row * w.RowBytes;
        Half* halfScales = w.ScalesPointer + (long)row * perRow;
        if (perRow > 0 && TDots.Vectorised) TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(halfScales, perRow), new Span<float>(scales, perRow));
        TDots.Decode(data, scales, blocks, target);
        for (int i = blocks * WeightFormats.BlockSize; i < columns; i++) target[i] = BlockQuantizer.Element(w.Format, data, halfScales, i);
    }
}
