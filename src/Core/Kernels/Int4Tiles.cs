using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlavaModal.Core.Kernels;

/// <summary>AVX-512 BW: 16 rows a panel, a block of it 512 bytes (eight 64-byte steps).</summary>
unsafe readonly struct Avx512Int4Tile : IIntegerTile
{
    public static int Width => 16;

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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(byte* panel, float* scales, int blocks, QuantizedRow x0, QuantizedRow x1, QuantizedRow x2, QuantizedRow x3, float* tile)
    {
        Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (int b = 0; b < blocks; b++, panel += 16 * WeightFormats.BlockSize)
        {
            var rowScales = Vector512.Load(scales + b * 16);
            int o = b * WeightFormats.BlockSize;
            f0 = Scaled(Steps(panel, x0.Values + o), x0.Biases[b], rowScales, x0.Scales[b], f0);
            f1 = Scaled(Steps(panel, x1.Values + o), x1.Biases[b], rowScales, x1.Scales[b], f1);
            f2 = Scaled(Steps(panel, x2.Values + o), x2.Biases[b], rowScales, x2.Scales[b], f2);
            f3 = Scaled(Steps(panel, x3.Values + o), x3.Biases[b], rowScales, x3.Scales[b], f3);
        }
        f0.Store(tile);
        f1.Store(tile + 16);
        f2.Store(tile + 32);
        f3.Store(tile + 48);
    }

    /// <summary>Four rows a vector; two-source permutes pick uint k of each row, rows 0-7 from the first pair and 8-15 from the second.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Pack(PackedMatrix w, int first, int count, byte* panel, float* scales)
    {
        var rows = stackalloc byte*[16];
        QuantizedPanel.Rows(w, first, count, 16, rows, scales);
        var nibbles = Vector512.Create(0x0F0F0F0Fu);
        var upper = Vector512.GreaterThanOrEqual(Vector512.Create(0u, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), Vector512.Create(8u));
        var pick = Vector512.Create(0u, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
        for (int b = 0, blocks = w.Columns / WeightFormats.BlockSize; b < blocks; b++)
        {
            int at = b * 16;
            var z0 = Four(rows[0] + at, rows[1] + at, rows[2] + at, rows[3] + at);
            var z1 = Four(rows[4] + at, rows[5] + at, rows[6] + at, rows[7] + at);
            var z2 = Four(rows[8] + at, rows[9] + at, rows[10] + at, rows[11] + at);
            var z3 = Four(rows[12] + at, rows[13] + at, rows[14] + at, rows[15] + at);
            byte* target = panel + (long)b * 16 * WeightFormats.BlockSize;
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
}

/// <summary>AVX2: 8 rows a panel, a block of it 256 bytes (eight 32-byte steps).</summary>
unsafe readonly struct Avx2Int4Tile : IIntegerTile
{
    public static int Width => 8;

    /// <summary>One token's eight steps of a block: the int16 sums of its products with the panel's 8 rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<short> Steps(byte* panel, sbyte* q)
    {
        var a = Avx2.MultiplyAddAdjacent(Vector256.Load(panel), Vector256.Create(*(int*)q).AsSByte())
            + Avx2.MultiplyAddAdjacent(Vector256.Load(panel + 32), Vector256.Create(*(int*)(q + 4)).AsSByte());
        var b = Avx2.MultiplyAddAdjacent(Vector256.Load(panel + 64), Vector256.Create(*(int*)(q + 8)).AsSByte())
            + Avx2.MultiplyAddAdjacent(Vector256.Load(panel + 96), Vector256.Create(*(int*)(q + 12)).AsSByte());
        var c = Avx2.MultiplyAddAdjacent(Vector256.Load(panel + 128), Vector256.Create(*(int*)(q + 16)).AsSByte())
            + Avx2.MultiplyAddAdjacent(Vector256.Load(panel + 160), Vector256.Create(*(int*)(q + 20)).AsSByte());
        var d = Avx2.MultiplyAddAdjacent(Vector256.Load(panel + 192), Vector256.Create(*(int*)(q + 24)).AsSByte())
            + Avx2.MultiplyAddAdjacent(Vector256.Load(panel + 224), Vector256.Create(*(int*)(q + 28)).AsSByte());
        return (a + b) + (c + d);
    }

    /// <summary>A block's scaled sums for one token added to <paramref name="sum"/>: lane r is row r's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Scaled(Vector256<short> steps, int bias, Vector256<float> rowScales, float scale, Vector256<float> sum)
    {
        var total = Avx2.MultiplyAddAdjacent(steps, Vector256.Create((short)1)) + Vector256.Create(bias >> 4);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(total), rowScales * Vector256.Create(scale), sum);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(byte* panel, float* scales, int blocks, QuantizedRow x0, QuantizedRow x1, QuantizedRow x2, QuantizedRow x3, float* tile)
    {
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (int b = 0; b < blocks; b++, panel += 8 * WeightFormats.BlockSize)
        {
            var rowScales = Vector256.Load(scales + b * 8);
            int o = b * WeightFormats.BlockSize;
            f0 = Scaled(Steps(panel, x0.Values + o), x0.Biases[b], rowScales, x0.Scales[b], f0);
            f1 = Scaled(Steps(panel, x1.Values + o), x1.Biases[b], rowScales, x1.Scales[b], f1);
            f2 = Scaled(Steps(panel, x2.Values + o), x2.Biases[b], rowScales, x2.Scales[b], f2);
            f3 = Scaled(Steps(panel, x3.Values + o), x3.Biases[b], rowScales, x3.Scales[b], f3);
        }
        f0.Store(tile);
        f1.Store(tile + 8);
        f2.Store(tile + 16);
        f3.Store(tile + 24);
    }

    /// <summary>Rows r and r + 4 a vector (one per 128-bit half), then a 4 × 4 transpose of uints within each half.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Pack(PackedMatrix w, int first, int count, byte* panel, float* scales)
    {
        var rows = stackalloc byte*[8];
        QuantizedPanel.Rows(w, first, count, 8, rows, scales);
        var nibbles = Vector256.Create(0x0F0F0F0Fu);
        for (int b = 0, blocks = w.Columns / WeightFormats.BlockSize; b < blocks; b++)
        {
            int at = b * 16;
            var y0 = Two(rows[0] + at, rows[4] + at);
            var y1 = Two(rows[1] + at, rows[5] + at);
            var y2 = Two(rows[2] + at, rows[6] + at);
            var y3 = Two(rows[3] + at, rows[7] + at);
            var t0 = Avx2.UnpackLow(y0, y1);
            var t1 = Avx2.UnpackHigh(y0, y1);
            var t2 = Avx2.UnpackLow(y2, y3);
            var t3 = Avx2.UnpackHigh(y2, y3);
            byte* target = panel + (long)b * 8 * WeightFormats.BlockSize;
            Store(Avx2.UnpackLow(t0.AsUInt64(), t2.AsUInt64()).AsUInt32(), nibbles, target, 0);
            Store(Avx2.UnpackHigh(t0.AsUInt64(), t2.AsUInt64()).AsUInt32(), nibbles, target, 1);
            Store(Avx2.UnpackLow(t1.AsUInt64(), t3.AsUInt64()).AsUInt32(), nibbles, target, 2);
            Store(Avx2.UnpackHigh(t1.AsUInt64(), t3.AsUInt64()).AsUInt32(), nibbles, target, 3);
        }
    }

    /// <summary>uint <paramref name="k"/> of the 8 rows: its low nibbles are group k, its high ones group k + 4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(Vector256<uint> uints, Vector256<uint> nibbles, byte* target, int k)
    {
        (uints & nibbles).Store((uint*)(target + k * 32));
        (Vector256.ShiftRightLogical(uints, 4) & nibbles).Store((uint*)(target + (k + 4) * 32));
    }

    /// <summary>16 bytes from each of two rows, one per 128-bit half.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<uint> Two(byte* a, byte* b) => Vector256.Create(Vector128.Load(a), Vector128.Load(b)).AsUInt32();
}
