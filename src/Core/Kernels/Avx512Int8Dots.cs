using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlavaModal.Core.Kernels;

/// <summary>
/// int8 rows with AVX-512 and no VNNI the runtime offers at 512 bits: two blocks (64 stored bytes) per vector, lanes 0-7
/// summing block 2k and lanes 8-15 block 2k + 1, each scaled by its own scale; the scales of 16 blocks widened at once.
/// <c>vpmaddubsw</c> multiplies u8 by s8, so each pair is <c>|w|</c> times x negated where w is negative: one masked
/// subtraction on the comparison's mask register (<see cref="Signed"/>). Rows of whole steps of 16 blocks run 16 blocks
/// per step with constant pointers and scale lanes; an odd last block goes through the 256-bit path.
/// </summary>
unsafe readonly struct Avx512Int8Dots : IIntegerDots, IWholeSteps
{
    /// <summary>x with its sign flipped where w is negative.</summary>
    /// <remarks>A subtraction from zero, not unary minus, and the comparison in the same expression: only so does the JIT
    /// emit one masked <c>vpsubb</c> (unary minus, or a mask carried through a variable, became compare, mask-to-vector,
    /// subtract and blend).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<sbyte> Signed(Vector512<sbyte> w, Vector512<sbyte> x) =>
        Vector512.ConditionalSelect(Vector512.LessThan(w, Vector512<sbyte>.Zero), Avx512BW.Subtract(Vector512<sbyte>.Zero, x), x);

    /// <summary>The scale lanes of pair <paramref name="k"/> of a step: block 2k's scale in lanes 0-7, 2k + 1's in 8-15 (a constant where k is).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<int> Lanes(int k) =>
        Vector512.Create(2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1);

    /// <summary>Two blocks of weights at <paramref name="w"/> against their activations at <paramref name="x"/>, scaled by the <paramref name="lanes"/> of <paramref name="scales"/>, added to <paramref name="sum"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Pair(sbyte* w, sbyte* x, Vector512<float> scales, Vector512<int> lanes, Vector512<float> sum)
    {
        Prefetch.Lines((byte*)w + Prefetch.Ahead, 64);
        var weights = Vector512.Load(w);
        var pairs = Avx512BW.MultiplyAddAdjacent(Avx512BW.Abs(weights), Signed(weights, Vector512.Load(x)));
        var ints = Avx512BW.MultiplyAddAdjacent(pairs, Vector512.Create((short)1));
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(ints), Avx512F.PermuteVar16x32(scales, lanes), sum);
    }

    /// <summary>
    /// A whole step of 16 blocks (<paramref name="w"/> its bytes, <paramref name="q"/> its activations) added to the two sums,
    /// even pairs to the first; the sums go in and out by value (by reference they stay in memory).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector512<float>, Vector512<float>) Step(sbyte* w, sbyte* q, Vector512<float> c, Vector512<float> s0, Vector512<float> s1)
    {
        s0 = Pair(w, q, c, Lanes(0), s0);
        s1 = Pair(w + 64, q + 64, c, Lanes(1), s1);
        s0 = Pair(w + 128, q + 128, c, Lanes(2), s0);
        s1 = Pair(w + 192, q + 192, c, Lanes(3), s1);
        s0 = Pair(w + 256, q + 256, c, Lanes(4), s0);
        s1 = Pair(w + 320, q + 320, c, Lanes(5), s1);
        s0 = Pair(w + 384, q + 384, c, Lanes(6), s0);
        s1 = Pair(w + 448, q + 448, c, Lanes(7), s1);
        return (s0, s1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Whole(byte* row, Half* scales, QuantizedRow x, int blocks)
    {
        Vector512<float> s0 = default, s1 = default;
        for (int b0 = 0; b0 < blocks; b0 += 16)
        {
            var c = IntegerScales.Sixteen(scales + b0) * Vector512.Load(x.Scales + b0);
            (s0, s1) = Step((sbyte*)row + b0 * 32, x.Values + b0 * 32, c, s0, s1);
        }
        return s0 + s1;
    }

    /// <summary>A row of any width, its lanes not yet added, and in <paramref name="last"/> an odd last block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Any(byte* row, Half* scales, QuantizedRow x, int blocks, out float last)
    {
        Vector512<float> s0 = default, s1 = default;
        last = 0;
        for (int b0 = 0; b0 < blocks; b0 += 16)
        {
            var c = IntegerScales.Sixteen(scales + b0) * Vector512.Load(x.Scales + b0);
            int n = Math.Min(16, blocks - b0);
            sbyte* w = (sbyte*)row + b0 * 32;
            sbyte* q = x.Values + b0 * 32;
            int j = 0;
            if (n == 16)
            {
                (s0, s1) = Step(w, q, c, s0, s1);
                j = 16;
            }
            else
            {
                var lanes = Lanes(0);
                for (; j + 1 < n; j += 2, lanes += Vector512.Create(2))
                    s0 = Pair(w + j * 32, q + j * 32, c, lanes, s0);
            }
            if (j < n) last += OneBlock.Dot<Int8Bytes>(row, b0 + j, q + j * 32, c.GetElement(j));
        }
        return s0 + s1;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot1(byte* row, Half* scales, QuantizedRow x, int blocks) => WholeStepRows.Dot1<Avx512Int8Dots>(row, scales, x, blocks);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows4(byte* row, long rowBytes, Half* scales, QuantizedRow x, int blocks, float* result) =>
        WholeStepRows.Rows4<Avx512Int8Dots>(row, rowBytes, scales, x, blocks, result);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot4(byte* row, Half* scales, QuantizedRow x0, QuantizedRow x1, QuantizedRow x2, QuantizedRow x3, int blocks, float* result)
    {
        Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
        float l0 = 0, l1 = 0, l2 = 0, l3 = 0;
        for (int b0 = 0; b0 < blocks; b0 += 16)
        {
            var rowScales = IntegerScales.Sixteen(scales + b0);
            var c0 = rowScales * Vector512.Load(x0.Scales + b0);
            var c1 = rowScales * Vector512.Load(x1.Scales + b0);
            var c2 = rowScales * Vector512.Load(x2.Scales + b0);
            var c3 = rowScales * Vector512.Load(x3.Scales + b0);
            int n = Math.Min(16, blocks - b0);
            var lanes = Lanes(0);
            int j = 0;
            for (; j + 1 < n; j += 2, lanes += Vector512.Create(2))
            {
                int o = (b0 + j) * 32;
                var weights = Vector512.Load((sbyte*)row + o);
                var unsigned = Avx512BW.Abs(weights);
                s0 = Four(unsigned, weights, x0.Values + o, c0, lanes, s0);
                s1 = Four(unsigned, weights, x1.Values + o, c1, lanes, s1);
                s2 = Four(unsigned, weights, x2.Values + o, c2, lanes, s2);
                s3 = Four(unsigned, weights, x3.Values + o, c3, lanes, s3);
            }
            if (j < n)
            {
                int b = b0 + j, o = b * 32;
                l0 += OneBlock.Dot<Int8Bytes>(row, b, x0.Values + o, c0.GetElement(j));
                l1 += OneBlock.Dot<Int8Bytes>(row, b, x1.Values + o, c1.GetElement(j));
                l2 += OneBlock.Dot<Int8Bytes>(row, b, x2.Values + o, c2.GetElement(j));
                l3 += OneBlock.Dot<Int8Bytes>(row, b, x3.Values + o, c3.GetElement(j));
            }
        }
        (HorizontalSums.Sum4(s0, s1, s2, s3) + Vector128.Create(l0, l1, l2, l3)).Store(result);
    }

    /// <summary><see cref="Pair"/> for one of <see cref="Dot4"/>'s activation rows, the weights loaded and made unsigned once for all four.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Four(Vector512<byte> unsigned, Vector512<sbyte> weights, sbyte* x, Vector512<float> scales, Vector512<int> lanes, Vector512<float> sum)
    {
        var pairs = Avx512BW.MultiplyAddAdjacent(unsigned, Signed(weights, Vector512.Load(x)));
        var ints = Avx512BW.MultiplyAddAdjacent(pairs, Vector512.Create((short)1));
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(ints), Avx512F.PermuteVar16x32(scales, lanes), sum);
    }
}
