using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlavaModal.Core.Kernels;

/// <summary>
/// int4 rows with AVX-512, four blocks (64 stored bytes) per load: the low nibbles of all 64 bytes are elements 0-15 of
/// the four blocks, the high nibbles elements 16-31, which meet the activations regrouped the same way
/// (<see cref="QuantizedRow.Halves"/>) with no shuffle of the weights. Per four blocks: two <c>vpmaddubsw</c>, their sum
/// (at most 4 · 15 · 127 per int16 lane), one <c>vpmaddwd</c>, one conversion and one scaled add, lanes 4k to 4k + 3
/// belonging to block k. Blocks past the row's last whole four go through the 256-bit path in block order.
/// </summary>
unsafe readonly struct Avx512Int4Dots : IIntegerDots
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Nibbles(byte* row, int group, out Vector512<byte> low, out Vector512<byte> high)
    {
        var bytes = Vector512.Load(row + group * 16);
        var mask = Vector512.Create((byte)15);
        low = bytes & mask;
        high = Vector512.ShiftRightLogical(bytes.AsUInt16(), 4).AsByte() & mask;
    }

    /// <summary>Four blocks' int32 sums (lanes 4k to 4k + 3: block <paramref name="group"/> + k) times their scales.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Group(Vector512<byte> low, Vector512<byte> high, QuantizedRow x, int group, Vector512<float> scales, Vector512<int> lanes, Vector512<float> sum)
    {
        sbyte* q = x.Halves + group * 32;
        var pairs = Avx512BW.MultiplyAddAdjacent(low, Vector512.Load(q)) + Avx512BW.MultiplyAddAdjacent(high, Vector512.Load(q + 64));
        var ints = Avx512BW.MultiplyAddAdjacent(pairs, Vector512.Create((short)1));
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(ints), Avx512F.PermuteVar16x32(scales, lanes), sum);
    }

    static Vector512<int> FirstLanes => Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot1(byte* row, Half* scales, QuantizedRow x, int blocks)
    {
        Vector512<float> s0 = default, s1 = default, offset = default;
        float last = 0;
        int whole = blocks / 4 * 4;
        for (int b0 = 0; b0 < blocks; b0 += 16)
        {
            var rowScales = IntegerScales.Sixteen(scales + b0);
            var c = rowScales * Vector512.Load(x.Scales + b0);
            int n = Math.Min(16, blocks - b0), grouped = Math.Min(n, whole - b0);
            offset = Avx512IntegerDots<Int4Bytes512, Int4Bytes>.Offsets(rowScales, x.Offsets + b0, n, offset);
            var lanes = FirstLanes;
            int j = 0;
            for (; j + 8 <= grouped; j += 8)
            {
                Nibbles(row, b0 + j, out var low0, out var high0);
                Nibbles(row, b0 + j + 4, out var low1, out var high1);
                s0 = Group(low0, high0, x, b0 + j, c, lanes, s0);
                s1 = Group(low1, high1, x, b0 + j + 4, c, lanes + Vector512.Create(4), s1);
                lanes += Vector512.Create(8);
            }
            if (j < grouped)
            {
                Nibbles(row, b0 + j, out var low, out var high);
                s0 = Group(low, high, x, b0 + j, c, lanes, s0);
                j += 4;
            }
            for (; j < n; j++) last += Avx512IntegerDots<Int4Bytes512, Int4Bytes>.Last(row, b0 + j, x.Values + (b0 + j) * 32, c.GetElement(j));
        }
        return Vector512.Sum(s0 + s1 - offset) + last;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot4(byte* row, Half* scales, QuantizedRow x0, QuantizedRow x1, QuantizedRow x2, QuantizedRow x3, int blocks, float* result)
    {
        Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
        Vector512<float> o0 = default, o1 = default, o2 = default, o3 = default;
        float l0 = 0, l1 = 0, l2 = 0, l3 = 0;
        int whole = blocks / 4 * 4;
        for (int b0 = 0; b0 < blocks; b0 += 16)
        {
            var rowScales = IntegerScales.Sixteen(scales + b0);
            var c0 = rowScales * Vector512.Load(x0.Scales + b0);
            var c1 = rowScales * Vector512.Load(x1.Scales + b0);
            var c2 = rowScales * Vector512.Load(x2.Scales + b0);
            var c3 = rowScales * Vector512.Load(x3.Scales + b0);
            int n = Math.Min(16, blocks - b0), grouped = Math.Min(n, whole - b0);
            o0 = Avx512IntegerDots<Int4Bytes512, Int4Bytes>.Offsets(rowScales, x0.Offsets + b0, n, o0);
            o1 = Avx512IntegerDots<Int4Bytes512, Int4Bytes>.Offsets(rowScales, x1.Offsets + b0, n, o1);
            o2 = Avx512IntegerDots<Int4Bytes512, Int4Bytes>.Offsets(rowScales, x2.Offsets + b0, n, o2);
            o3 = Avx512IntegerDots<Int4Bytes512, Int4Bytes>.Offsets(rowScales, x3.Offsets + b0, n, o3);
            var lanes = FirstLanes;
            int j = 0;
            for (; j < grouped; j += 4)
            {
                int g = b0 + j;
                Nibbles(row, g, out var low, out var high);
                s0 = Group(low, high, x0, g, c0, lanes, s0);
                s1 = Group(low, high, x1, g, c1, lanes, s1);
                s2 = Group(low, high, x2, g, c2, lanes, s2);
                s3 = Group(low, high, x3, g, c3, lanes, s3);
                lanes += Vector512.Create(4);
            }
            for (; j < n; j++)
            {
                int b = b0 + j, o = b * 32;
                l0 += Avx512IntegerDots<Int4Bytes512, Int4Bytes>.Last(row, b, x0.Values + o, c0.GetElement(j));
                l1 += Avx512IntegerDots<Int4Bytes512, Int4Bytes>.Last(row, b, x1.Values + o, c1.GetElement(j));
                l2 += Avx512IntegerDots<Int4Bytes512, Int4Bytes>.Last(row, b, x2.Values + o, c2.GetElement(j));
                l3 += Avx512IntegerDots<Int4Bytes512, Int4Bytes>.Last(row, b, x3.Values + o, c3.GetElement(j));
            }
        }
        result[0] = Vector512.Sum(s0 - o0) + l0;
        result[1] = Vector512.Sum(s1 - o1) + l1;
        result[2] = Vector512.Sum(s2 - o2) + l2;
        result[3] = Vector512.Sum(s3 - o3) + l3;
    }
}
