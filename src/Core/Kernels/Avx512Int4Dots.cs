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
unsafe readonly struct Avx512Int4Dots : IIntegerDots, IWholeSteps
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Nibbles(byte* w, out Vector512<byte> low, out Vector512<byte> high)
    {
        Prefetch.Lines(w + Prefetch.Ahead, 64);
        var bytes = Vector512.Load(w);
        var mask = Vector512.Create((byte)15);
        low = bytes & mask;
        high = Vector512.ShiftRightLogical(bytes.AsUInt16(), 4).AsByte() & mask;
    }

    /// <summary>Four blocks' int32 sums (lanes 4k to 4k + 3: the group's block k) times their scales, picked by <paramref name="lanes"/>; <paramref name="q"/>: the group's regrouped values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Group(Vector512<byte> low, Vector512<byte> high, sbyte* q, Vector512<float> scales, Vector512<int> lanes, Vector512<float> sum)
    {
        var pairs = Avx512BW.MultiplyAddAdjacent(low, Vector512.Load(q)) + Avx512BW.MultiplyAddAdjacent(high, Vector512.Load(q + 64));
        var ints = Avx512BW.MultiplyAddAdjacent(pairs, Vector512.Create((short)1));
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(ints), Avx512F.PermuteVar16x32(scales, lanes), sum);
    }

    /// <summary>The int4 offset term over 16 blocks (see <see cref="IIntegerDots"/>); lanes past the row's last block (another row's scales, or padding) masked off.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Offsets(Vector512<float> rowScales, float* offsets, int count, Vector512<float> sum) =>
        sum + Vector512.ConditionalSelect(Vector512.LessThan(Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), Vector512.Create(count)).AsSingle(), rowScales * Vector512.Load(offsets), default);

    /// <summary>The scale lanes of group <c>k</c> of a step of 16 blocks: each block's scale four times.</summary>
    static Vector512<int> Lanes0
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    }
    static Vector512<int> Lanes1
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.Create(4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7);
    }
    static Vector512<int> Lanes2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.Create(8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11);
    }
    static Vector512<int> Lanes3
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.Create(12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot1(byte* row, Half* scales, QuantizedRow x, int blocks) => WholeStepRows.Dot1<Avx512Int4Dots>(row, scales, x, blocks);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows4(byte* row, long rowBytes, Half* scales, QuantizedRow x, int blocks, float* result) =>
        WholeStepRows.Rows4<Avx512Int4Dots>(row, rowBytes, scales, x, blocks, result);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Whole(byte* row, Half* scales, QuantizedRow x, int blocks)
    {
        Vector512<float> s0 = default, s1 = default, offset = default;
        for (int b0 = 0; b0 < blocks; b0 += 16)
        {
            var rowScales = IntegerScales.Sixteen(scales + b0);
            var c = rowScales * Vector512.Load(x.Scales + b0);
            offset += rowScales * Vector512.Load(x.Offsets + b0);
            (s0, s1) = Step(row + b0 * 16, x.Halves + b0 * 32, c, s0, s1);
        }
        return s0 + s1 - offset;
    }

    /// <summary>
    /// A whole step of 16 blocks (<paramref name="w"/> its bytes, <paramref name="q"/> its regrouped activations) added to
    /// the two sums, groups 0 and 2 to the first, 1 and 3 to the second; pointers and lanes constant within the step, so no
    /// index arithmetic sits between the vector instructions. The sums go in and out by value: by reference they stay in memory.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector512<float>, Vector512<float>) Step(byte* w, sbyte* q, Vector512<float> c, Vector512<float> s0, Vector512<float> s1)
    {
        Nibbles(w, out var low0, out var high0);
        Nibbles(w + 64, out var low1, out var high1);
        s0 = Group(low0, high0, q, c, Lanes0, s0);
        s1 = Group(low1, high1, q + 128, c, Lanes1, s1);
        Nibbles(w + 128, out var low2, out var high2);
        Nibbles(w + 192, out var low3, out var high3);
        s0 = Group(low2, high2, q + 256, c, Lanes2, s0);
        s1 = Group(low3, high3, q + 384, c, Lanes3, s1);
        return (s0, s1);
    }

    /// <summary>A row of any width, its lanes not yet added, and in <paramref name="last"/> the blocks past its last whole four.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Any(byte* row, Half* scales, QuantizedRow x, int blocks, out float last)
    {
        Vector512<float> s0 = default, s1 = default, offset = default;
        last = 0;
        int whole = blocks / 4 * 4;
        for (int b0 = 0; b0 < blocks; b0 += 16)
        {
            var rowScales = IntegerScales.Sixteen(scales + b0);
            var c = rowScales * Vector512.Load(x.Scales + b0);
            int n = Math.Min(16, blocks - b0), grouped = Math.Min(n, whole - b0);
            offset = Offsets(rowScales, x.Offsets + b0, n, offset);
            byte* w = row + b0 * 16;
            sbyte* q = x.Halves + b0 * 32;
            int j = 0;
            if (grouped == 16)
            {
                (s0, s1) = Step(w, q, c, s0, s1);
                j = 16;
            }
            else
            {
                var lanes = Lanes0;
                for (; j < grouped; j += 4, lanes += Vector512.Create(4))
                {
                    Nibbles(w + j * 16, out var low, out var high);
                    s0 = Group(low, high, q + j * 32, c, lanes, s0);
                }
            }
            for (; j < n; j++) last += OneBlock.Dot<Int4Bytes>(row, b0 + j, x.Values + (b0 + j) * 32, c.GetElement(j));
        }
        return s0 + s1 - offset;
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
            o0 = Offsets(rowScales, x0.Offsets + b0, n, o0);
            o1 = Offsets(rowScales, x1.Offsets + b0, n, o1);
            o2 = Offsets(rowScales, x2.Offsets + b0, n, o2);
            o3 = Offsets(rowScales, x3.Offsets + b0, n, o3);
            var lanes = Lanes0;
            int j = 0;
            for (; j < grouped; j += 4, lanes += Vector512.Create(4))
            {
                int o = (b0 + j) * 32;
                Nibbles(row + (b0 + j) * 16, out var low, out var high);
                s0 = Group(low, high, x0.Halves + o, c0, lanes, s0);
                s1 = Group(low, high, x1.Halves + o, c1, lanes, s1);
                s2 = Group(low, high, x2.Halves + o, c2, lanes, s2);
                s3 = Group(low, high, x3.Halves + o, c3, lanes, s3);
            }
            for (; j < n; j++)
            {
                int b = b0 + j, o = b * 32;
                l0 += OneBlock.Dot<Int4Bytes>(row, b, x0.Values + o, c0.GetElement(j));
                l1 += OneBlock.Dot<Int4Bytes>(row, b, x1.Values + o, c1.GetElement(j));
                l2 += OneBlock.Dot<Int4Bytes>(row, b, x2.Values + o, c2.GetElement(j));
                l3 += OneBlock.Dot<Int4Bytes>(row, b, x3.Values + o, c3.GetElement(j));
            }
        }
        (HorizontalSums.Sum4(s0 - o0, s1 - o1, s2 - o2, s3 - o3) + Vector128.Create(l0, l1, l2, l3)).Store(result);
    }
}
