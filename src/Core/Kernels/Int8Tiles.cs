using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlavaModal.Core.Kernels;

/// <summary>AVX-512 BW: 16 rows a panel, a block of it 16 pairs x 16 rows (1 KiB).</summary>
unsafe readonly struct Avx512Int8Tile : IIntegerTile
{
    const int Block = WeightFormats.BlockSize;

    public static int Width => 16;

    /// <summary>Each row's block widened (16 pairs a row), then four perfect shuffles transpose the 16 x 16 int32 (scalar copies at first: 12-15% of a 256-token product).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Pack(PackedMatrix w, int first, int count, byte* bytes, float* scales)
    {
        var panel = (int*)bytes;
        var rows = stackalloc byte*[16];
        QuantizedPanel.Rows(w, first, count, 16, rows, scales);
        // Each output vector of a shuffle interleaves vector i with vector i + 8.
        var low = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        var high = low + Vector512.Create(8);
        var a = stackalloc Vector512<int>[16];
        var b = stackalloc Vector512<int>[16];
        for (int block = 0, blocks = w.Columns / Block; block < blocks; block++)
        {
            for (int r = 0; r < 16; r++)
                a[r] = Avx512BW.ConvertToVector512Int16(Vector256.Load((sbyte*)rows[r] + block * Block)).AsInt32();
            Vector512<int>* from = a, to = b;
            for (int stage = 0; stage < 4; stage++)
            {
                for (int i = 0; i < 8; i++)
                {
                    to[2 * i] = Avx512F.PermuteVar16x32x2(from[i], low, from[i + 8]);
                    to[2 * i + 1] = Avx512F.PermuteVar16x32x2(from[i], high, from[i + 8]);
                }
                var swap = from;
                from = to;
                to = swap;
            }
            // Now vector j holds pair j of rows 0-15.
            int* target = panel + block * 16 * (Block / 2);
            for (int j = 0; j < Block / 2; j++) from[j].Store(target + j * 16);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(byte* bytes, float* scales, int blocks, QuantizedRow r0, QuantizedRow r1, QuantizedRow r2, QuantizedRow r3, float* tile)
    {
        var panel = (int*)bytes;
        short* x0 = r0.Wide, x1 = r1.Wide, x2 = r2.Wide, x3 = r3.Wide;
        float* d0 = r0.Scales, d1 = r1.Scales, d2 = r2.Scales, d3 = r3.Scales;
        Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (int b = 0; b < blocks; b++, panel += 16 * (Block / 2))
        {
            Vector512<int> s0 = default, s1 = default, s2 = default, s3 = default;
            int* p0 = (int*)(x0 + b * Block), p1 = (int*)(x1 + b * Block), p2 = (int*)(x2 + b * Block), p3 = (int*)(x3 + b * Block);
            for (int j = 0; j < Block / 2; j++)
            {
                var w = Vector512.Load(panel + j * 16).AsInt16();
                s0 += Avx512BW.MultiplyAddAdjacent(w, Vector512.Create(p0[j]).AsInt16());
                s1 += Avx512BW.MultiplyAddAdjacent(w, Vector512.Create(p1[j]).AsInt16());
                s2 += Avx512BW.MultiplyAddAdjacent(w, Vector512.Create(p2[j]).AsInt16());
                s3 += Avx512BW.MultiplyAddAdjacent(w, Vector512.Create(p3[j]).AsInt16());
            }
            var rowScales = Vector512.Load(scales + b * 16);
            f0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(s0), rowScales * Vector512.Create(d0[b]), f0);
            f1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(s1), rowScales * Vector512.Create(d1[b]), f1);
            f2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(s2), rowScales * Vector512.Create(d2[b]), f2);
            f3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(s3), rowScales * Vector512.Create(d3[b]), f3);
        }
        f0.Store(tile);
        f1.Store(tile + 16);
        f2.Store(tile + 32);
        f3.Store(tile + 48);
    }
}

/// <summary>AVX2: 8 rows a panel, a block of it 16 pairs x 8 rows (512 bytes).</summary>
unsafe readonly struct Avx2Int8Tile : IIntegerTile
{
    const int Block = WeightFormats.BlockSize;

    public static int Width => 8;

    /// <summary>Each row's block widened into two vectors (pairs 0-7, pairs 8-15), each set of eight transposed as 8 x 8 int32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Pack(PackedMatrix w, int first, int count, byte* bytes, float* scales)
    {
        var panel = (int*)bytes;
        var rows = stackalloc byte*[8];
        QuantizedPanel.Rows(w, first, count, 8, rows, scales);
        for (int block = 0, blocks = w.Columns / Block; block < blocks; block++)
        {
            int* target = panel + block * 8 * (Block / 2);
            for (int half = 0; half < 2; half++)
            {
                int at = block * Block + half * 16;
                Transpose(Pairs(rows[0] + at), Pairs(rows[1] + at), Pairs(rows[2] + at), Pairs(rows[3] + at),
                    Pairs(rows[4] + at), Pairs(rows[5] + at), Pairs(rows[6] + at), Pairs(rows[7] + at), target + half * 8 * 8);
            }
        }
    }

    /// <summary>16 int8 values widened: eight pairs of int16, one int32 lane each.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Pairs(byte* values) => Avx2.ConvertToVector256Int16(Vector128.Load((sbyte*)values)).AsInt32();

    /// <summary>Eight rows of eight int32 stored as eight columns (column j: lane r is row r's j-th).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose(Vector256<int> r0, Vector256<int> r1, Vector256<int> r2, Vector256<int> r3, Vector256<int> r4, Vector256<int> r5, Vector256<int> r6, Vector256<int> r7, int* target)
    {
        // Per 128-bit half: pairs of rows interleaved, then quads; the halves (columns j and j + 4) swapped last.
        var t0 = Avx2.UnpackLow(r0, r1);
        var t1 = Avx2.UnpackHigh(r0, r1);
        var t2 = Avx2.UnpackLow(r2, r3);
        var t3 = Avx2.UnpackHigh(r2, r3);
        var t4 = Avx2.UnpackLow(r4, r5);
        var t5 = Avx2.UnpackHigh(r4, r5);
        var t6 = Avx2.UnpackLow(r6, r7);
        var t7 = Avx2.UnpackHigh(r6, r7);
        var u0 = Avx2.UnpackLow(t0.AsInt64(), t2.AsInt64()).AsInt32();
        var u1 = Avx2.UnpackHigh(t0.AsInt64(), t2.AsInt64()).AsInt32();
        var u2 = Avx2.UnpackLow(t1.AsInt64(), t3.AsInt64()).AsInt32();
        var u3 = Avx2.UnpackHigh(t1.AsInt64(), t3.AsInt64()).AsInt32();
        var u4 = Avx2.UnpackLow(t4.AsInt64(), t6.AsInt64()).AsInt32();
        var u5 = Avx2.UnpackHigh(t4.AsInt64(), t6.AsInt64()).AsInt32();
        var u6 = Avx2.UnpackLow(t5.AsInt64(), t7.AsInt64()).AsInt32();
        var u7 = Avx2.UnpackHigh(t5.AsInt64(), t7.AsInt64()).AsInt32();
        Avx2.Permute2x128(u0, u4, 0x20).Store(target);
        Avx2.Permute2x128(u1, u5, 0x20).Store(target + 8);
        Avx2.Permute2x128(u2, u6, 0x20).Store(target + 16);
        Avx2.Permute2x128(u3, u7, 0x20).Store(target + 24);
        Avx2.Permute2x128(u0, u4, 0x31).Store(target + 32);
        Avx2.Permute2x128(u1, u5, 0x31).Store(target + 40);
        Avx2.Permute2x128(u2, u6, 0x31).Store(target + 48);
        Avx2.Permute2x128(u3, u7, 0x31).Store(target + 56);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(byte* bytes, float* scales, int blocks, QuantizedRow r0, QuantizedRow r1, QuantizedRow r2, QuantizedRow r3, float* tile)
    {
        var panel = (int*)bytes;
        short* x0 = r0.Wide, x1 = r1.Wide, x2 = r2.Wide, x3 = r3.Wide;
        float* d0 = r0.Scales, d1 = r1.Scales, d2 = r2.Scales, d3 = r3.Scales;
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (int b = 0; b < blocks; b++, panel += 8 * (Block / 2))
        {
            Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
            int* p0 = (int*)(x0 + b * Block), p1 = (int*)(x1 + b * Block), p2 = (int*)(x2 + b * Block), p3 = (int*)(x3 + b * Block);
            for (int j = 0; j < Block / 2; j++)
            {
                var w = Vector256.Load(panel + j * 8).AsInt16();
                s0 += Avx2.MultiplyAddAdjacent(w, Vector256.Create(p0[j]).AsInt16());
                s1 += Avx2.MultiplyAddAdjacent(w, Vector256.Create(p1[j]).AsInt16());
                s2 += Avx2.MultiplyAddAdjacent(w, Vector256.Create(p2[j]).AsInt16());
                s3 += Avx2.MultiplyAddAdjacent(w, Vector256.Create(p3[j]).AsInt16());
            }
            var rowScales = Vector256.Load(scales + b * 8);
            f0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s0), rowScales * Vector256.Create(d0[b]), f0);
            f1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s1), rowScales * Vector256.Create(d1[b]), f1);
            f2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s2), rowScales * Vector256.Create(d2[b]), f2);
            f3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s3), rowScales * Vector256.Create(d3[b]), f3);
        }
        f0.Store(tile);
        f1.Store(tile + 8);
        f2.Store(tile + 16);
        f3.Store(tile + 24);
    }
}
