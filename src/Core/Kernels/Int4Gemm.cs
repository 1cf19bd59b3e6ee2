using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlavaModal.Core.Kernels;

/// <summary>
/// Products of many tokens (prefill) with int4 rows in integers, as the one-token kernels do: the activations rounded to
/// int8 per block (<see cref="QuantizedActivations"/>), the weights repacked a panel of 16 rows at a time so that one
/// 512-bit load holds four consecutive values (the stored nibbles, <c>w + 8</c>, 0-15) of each of the 16 rows. A token's
/// four bytes broadcast to all lanes meet them in one <c>vpmaddubsw</c>: lane pair 2r, 2r + 1 holds two products each of
/// row r. A block's eight such steps are added in int16 (at most 8 · 2 · 15 · 127 = 30,480, so nothing saturates), one
/// <c>vpmaddwd</c> makes lane r row r's block sum, which starts from <c>-8 · Σq</c> (the nibbles' offset) and is scaled
/// by the row's and the token's block scales. No horizontal adds, and four multiply-adds per instruction lane where the
/// f32 tiled product (<see cref="Gemm"/>) spends one FMA lane each.
/// </summary>
/// <remarks>
/// Written by hand: libtorch has no product for these block formats. int4 only: int8 weights times int8 activations
/// overflow <c>vpmaddubsw</c>'s int16 pairs, and the sign fixes that avoid it cost what the f32 FMAs cost; and .NET 10
/// offers 512-bit VNNI only through AVX10 (README, Performance).
/// </remarks>
static unsafe class Int4Gemm
{
    /// <summary>Rows per panel: the int32 lanes of one 512-bit vector.</summary>
    const int Width = 16;
    /// <summary>Tokens per tile.</summary>
    const int Height = 4;
    const int Block = WeightFormats.BlockSize;
    /// <summary>Bytes of one block of a panel: eight steps of four values for each of 16 rows.</summary>
    const int PanelBlock = Width * Block;

    /// <summary>Whether this product serves <paramref name="weights"/> on <paramref name="isa"/>: int4 rows of whole blocks, AVX-512 BW.</summary>
    internal static bool Serves(PackedMatrix weights, KernelIsa isa) =>
        isa == KernelIsa.Avx512 && KernelIsas.IsSupported(isa) && weights.Format == WeightFormat.Int4 && weights.Columns % Block == 0;

    /// <summary>Computes <paramref name="y"/> [tokens, rows] from <paramref name="x"/> [tokens, columns].</summary>
    /// <exception cref="ArgumentException">A matrix this product does not serve (see <see cref="Serves"/>).</exception>
    internal static void Multiply(PackedMatrix weights, float* x, int tokens, float* y, KernelPool pool)
    {
        if (!Serves(weights, KernelIsas.Best)) throw new ArgumentException($"The int4 integer product needs int4 rows of whole {Block}-column blocks and AVX-512 BW; got {weights.Format.Name()} rows of {weights.Columns} on {KernelIsas.Best}.", nameof(weights));
        if (tokens <= 0) return;
        var work = new PanelWork(weights, QuantizedActivations.Of(x, tokens, weights.Columns), tokens, y);
        pool.For(work.Panels, 1, work);
    }

    sealed class PanelWork(PackedMatrix w, QuantizedActivations x, int tokens, float* y) : IRangeWork
    {
        public int Panels => (w.Rows + Width - 1) / Width;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int start, int end)
        {
            int blocks = w.Columns / Block, rows = w.Rows;
            var buffers = Buffers.ForThread(blocks);
            byte* panel = buffers.Panel;
            float* scales = buffers.Scales;
            float* tile = stackalloc float[Height * Width];
            for (int p = start; p < end; p++)
            {
                int first = p * Width, count = Math.Min(Width, rows - first);
                Pack(w, first, count, panel, scales);
                for (int t = 0; t < tokens; t += Height)
                {
                    int n = Math.Min(Height, tokens - t);
                    // Fewer than four tokens left: the missing ones repeat the last, and their sums are dropped.
                    Tile(panel, scales, blocks, x.Row(t), x.Row(t + Math.Min(1, n - 1)), x.Row(t + Math.Min(2, n - 1)), x.Row(t + Math.Min(3, n - 1)), tile);
                    for (int i = 0; i < n; i++)
                        new ReadOnlySpan<float>(tile + i * Width, count).CopyTo(new Span<float>(y + (long)(t + i) * rows + first, count));
                }
            }
        }
    }

    /// <summary>One token's eight steps of a block: the int16 sums of its products with the panel's 16 rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<short> Steps(byte* panel, sbyte* q)
    {
        var a = Avx512BW.MultiplyAddAdjacent(Vector512.Load(panel), Vector512.Create(*(int*)q).AsSByte())
            + Avx512BW.MultiplyAddAdjacent(Vector512.Load(panel + 64), Vector512.Create(*(int*)(q + 4)).AsSByte());
        var b = Avx512BW.MultiplyAddAdjacent(Vector512.Load(panel + 128), Vector512.Create(*(int*)(q + 8)).AsSByte())
            + Avx512BW.MultiplyAddAdjacent(Vector512.Load(panel + 192), Vector512.Create(*(int*)(q + 12)).AsSByte());
        var c = Avx512BW.MultiplyAddAdjacent(Vector512.Load(panel + 256), Vector512.Create(*(int*)(q + 16)).AsSByte())
            + Avx512BW.MultiplyAddAdjacent(Vector512.Load(panel + 320), Vector512.Create(*(int*)(q + 20)).AsSByte());
        var d = Avx512BW.MultiplyAddAdjacent(Vector512.Load(panel + 384), Vector512.Create(*(int*)(q + 24)).AsSByte())
            + Avx512BW.MultiplyAddAdjacent(Vector512.Load(panel + 448), Vector512.Create(*(int*)(q + 28)).AsSByte());
        return (a + b) + (c + d);
    }

    /// <summary>A block's scaled sums for one token added to <paramref name="sum"/>: lane r is row r's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Scaled(Vector512<short> steps, int bias, Vector512<float> rowScales, float scale, Vector512<float> sum)
    {
        var total = Avx512BW.MultiplyAddAdjacent(steps, Vector512.Create((short)1)) + Vector512.Create(bias >> 4);
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(total), rowScales * Vector512.Create(scale), sum);
    }

    /// <summary>Four tokens against a packed panel: <paramref name="tile"/> receives 4 × 16 sums, token by token.</summary>
    /// <remarks><see cref="QuantizedRow.Biases"/> hold <c>-128 · Σq</c>; shifted right by 4, <c>-8 · Σq</c> exactly.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile(byte* panel, float* scales, int blocks, QuantizedRow x0, QuantizedRow x1, QuantizedRow x2, QuantizedRow x3, float* tile)
    {
        Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (int b = 0; b < blocks; b++, panel += PanelBlock)
        {
            var rowScales = Vector512.Load(scales + b * Width);
            int o = b * Block;
            f0 = Scaled(Steps(panel, x0.Values + o), x0.Biases[b], rowScales, x0.Scales[b], f0);
            f1 = Scaled(Steps(panel, x1.Values + o), x1.Biases[b], rowScales, x1.Scales[b], f1);
            f2 = Scaled(Steps(panel, x2.Values + o), x2.Biases[b], rowScales, x2.Scales[b], f2);
            f3 = Scaled(Steps(panel, x3.Values + o), x3.Biases[b], rowScales, x3.Scales[b], f3);
        }
        f0.Store(tile);
        f1.Store(tile + Width);
        f2.Store(tile + 2 * Width);
        f3.Store(tile + 3 * Width);
    }

    /// <summary>
    /// Rows [first, first + count) as a panel: per block, per group of four columns, the four nibbles of row 0, of row 1,
    /// ... of row 15; and each block's 16 row scales as f32. Rows past <paramref name="count"/> repeat the last row with
    /// scale 0, so their sums are 0 (and dropped).
    /// </summary>
    /// <remarks>
    /// A block's 16 bytes of a row, as four uints, are its groups 0-3 in their low nibbles and 4-7 in their high ones
    /// (BlockQuantizer's layout: element i in byte i's low nibble, i + 16 in its high one). So a block of the panel is the
    /// 16 rows' uints transposed, four rows a 512-bit vector, then masked and shifted: a per-call repacking cheap against
    /// the product even for a few tokens.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Pack(PackedMatrix w, int first, int count, byte* panel, float* scales)
    {
        int blocks = w.Columns / Block, perRow = w.ScalesPerRow;
        var rows = stackalloc byte*[Width];
        for (int r = 0; r < Width; r++)
        {
            int row = first + Math.Min(r, count - 1);
            rows[r] = w.DataPointer + row * w.RowBytes;
            Half* rowScales = w.ScalesPointer + (long)row * perRow;
            for (int b = 0; b < blocks; b++) scales[b * Width + r] = r < count ? (float)rowScales[b] : 0;
        }
        var nibbles = Vector512.Create(0x0F0F0F0Fu);
        // Lanes 0-7 take uint k of rows 0-7 from the first pair of vectors, lanes 8-15 uint k of rows 8-15 from the second.
        var upper = Vector512.GreaterThanOrEqual(Vector512.Create(0u, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), Vector512.Create(8u));
        var pick = Vector512.Create(0u, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
        for (int b = 0; b < blocks; b++)
        {
            int at = b * 16;
            var z0 = Four(rows[0] + at, rows[1] + at, rows[2] + at, rows[3] + at);
            var z1 = Four(rows[4] + at, rows[5] + at, rows[6] + at, rows[7] + at);
            var z2 = Four(rows[8] + at, rows[9] + at, rows[10] + at, rows[11] + at);
            var z3 = Four(rows[12] + at, rows[13] + at, rows[14] + at, rows[15] + at);
            byte* target = panel + (long)b * PanelBlock;
            for (uint k = 0; k < 4; k++)
            {
                var index = pick + Vector512.Create(k);
                var uints = Vector512.ConditionalSelect(upper, Avx512F.PermuteVar16x32x2(z2, index, z3), Avx512F.PermuteVar16x32x2(z0, index, z1));
                (uints & nibbles).Store((uint*)(target + k * 64));
                (Vector512.ShiftRightLogical(uints, 4) & nibbles).Store((uint*)(target + (k + 4) * 64));
            }
        }
    }

    /// <summary>16 bytes from each of four rows, one after another.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<uint> Four(byte* a, byte* b, byte* c, byte* d) =>
        Vector512.Create(Vector256.Create(Vector128.Load(a), Vector128.Load(b)), Vector256.Create(Vector128.Load(c), Vector128.Load(d))).AsUInt32();

    /// <summary>One thread's panel and scales, as large as the widest matrix it has served (never growing with the tokens).</summary>
    sealed class Buffers
    {
        [ThreadStatic] static Buffers? current;
        byte[] panel = [];
        float[] scales = [];

        public byte* Panel { get; private set; }
        public float* Scales { get; private set; }

        public static Buffers ForThread(int blocks)
        {
            var buffers = current ??= new Buffers();
            if (buffers.scales.Length < blocks * Width)
            {
                // Pinned (the pinned object heap), so the addresses hold while they live; the panel 64-byte aligned.
                buffers.panel = GC.AllocateUninitializedArray<byte>(blocks * PanelBlock + 64, pinned: true);
                buffers.scales = GC.AllocateUninitializedArray<float>(blocks * Width, pinned: true);
                buffers.Panel = (byte*)(((nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffers.panel)) + 63) & ~(nint)63);
                buffers.Scales = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffers.scales));
            }
            return buffers;
        }
    }
}
