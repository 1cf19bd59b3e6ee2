using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlavaModal.Core.Kernels;

/// <summary>
/// int8 rows with AVX-VNNI, eight blocks a step. The weights are made unsigned by flipping their top bit (<c>w + 128</c>),
/// so one <c>vpdpbusd</c> per block multiplies and sums with no sign fixes (it has no 16-bit intermediate to saturate).
/// The eight blocks' lanes are then added across into one vector, lane k block k, which gets
/// <see cref="QuantizedRow.Biases"/> (<c>-128 · Σq</c>) added, so the sums stay exact, and is converted and scaled once
/// per eight blocks.
/// </summary>
/// <remarks>On AVX-512 CPUs too: .NET 10 offers VNNI only at 256 bits there (no Avx10v1), and this beats the 512-bit path,
/// which needs compare, abs, negate and blend to feed <c>vpmaddubsw</c> (see the README's Performance section).</remarks>
unsafe readonly struct VnniInt8Dots : IIntegerDots
{
    /// <summary>Block <paramref name="k"/> of a group whose values start at <paramref name="q"/> (pointers advanced per group, so each load is one addressing mode).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Block(Vector256<byte> w, sbyte* q, int k) => AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, w, Vector256.Load(q + k * 32));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<byte> Unsigned(byte* w, int k) => Vector256.Load(w + k * 32) ^ Vector256.Create((byte)0x80);

    /// <summary>Eight vectors of one block's partial sums each: lane k of the result is block k's total.</summary>
    /// <remarks>Unpacks and adds, not <c>vphaddd</c>: that is several times slower on Zen 5 (measured, see the README).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Totals(Vector256<int> v0, Vector256<int> v1, Vector256<int> v2, Vector256<int> v3, Vector256<int> v4, Vector256<int> v5, Vector256<int> v6, Vector256<int> v7)
    {
        // Per 128-bit half: [v0, v1, v2, v3] then [v4 .. v7], each summed over its four lanes of that half.
        var low = Quads(Pairs(v0, v1), Pairs(v2, v3));
        var high = Quads(Pairs(v4, v5), Pairs(v6, v7));
        return Avx2.Permute2x128(low, high, 0x20) + Avx2.Permute2x128(low, high, 0x31);
    }

    /// <summary>Per 128-bit half: [a0 + a2, b0 + b2, a1 + a3, b1 + b3].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Pairs(Vector256<int> a, Vector256<int> b) => Avx2.UnpackLow(a, b) + Avx2.UnpackHigh(a, b);

    /// <summary>Per 128-bit half, of two <see cref="Pairs"/>: [a, b, c, d] summed over their lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Quads(Vector256<int> ab, Vector256<int> cd) =>
        Avx2.UnpackLow(ab.AsInt64(), cd.AsInt64()).AsInt32() + Avx2.UnpackHigh(ab.AsInt64(), cd.AsInt64()).AsInt32();

    /// <summary>Eight blocks of weights made unsigned against one activation row, scaled by <paramref name="scales"/> and added to <paramref name="sum"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Group(Vector256<byte> w0, Vector256<byte> w1, Vector256<byte> w2, Vector256<byte> w3, Vector256<byte> w4, Vector256<byte> w5, Vector256<byte> w6, Vector256<byte> w7,
        sbyte* q, int* bias, Vector256<float> scales, Vector256<float> sum)
    {
        var totals = Vector256.Load(bias) + Totals(Block(w0, q, 0), Block(w1, q, 1), Block(w2, q, 2), Block(w3, q, 3),
            Block(w4, q, 4), Block(w5, q, 5), Block(w6, q, 6), Block(w7, q, 7));
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(totals), scales, sum);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Group(byte* w, sbyte* q, int* bias, Vector256<float> scales, Vector256<float> sum) =>
        Group(Unsigned(w, 0), Unsigned(w, 1), Unsigned(w, 2), Unsigned(w, 3), Unsigned(w, 4), Unsigned(w, 5), Unsigned(w, 6), Unsigned(w, 7), q, bias, scales, sum);

    /// <summary>The row's last, partial group of eight, scaled: blocks past <paramref name="count"/> give zero.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    static Vector256<float> Tail(byte* row, Half* scales, QuantizedRow x, int b0, int count)
    {
        var v = stackalloc Vector256<int>[8];
        for (int k = 0; k < 8; k++) v[k] = k < count ? Block(Unsigned(row + b0 * 32, k), x.Values + b0 * 32, k) : default;
        var c = IntegerScales.Eight(scales + b0) * Vector256.Load(x.Scales + b0);
        var valid = Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(count)).AsSingle();
        var totals = Vector256.Load(x.Biases + b0) + Totals(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
        return Avx.ConvertToVector256Single(totals) * Vector256.ConditionalSelect(valid, c, default);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot1(byte* row, Half* scales, QuantizedRow x, int blocks)
    {
        Vector256<float> s0 = default, s1 = default;
        byte* w = row;
        sbyte* q = x.Values;
        int* bias = x.Biases;
        float* xs = x.Scales;
        Half* ws = scales;
        int b0 = 0;
        for (; b0 + 16 <= blocks; b0 += 16, w += 512, q += 512, bias += 16, xs += 16, ws += 16)
        {
            Prefetch.Lines(w + Prefetch.Ahead, 512);
            s0 = Group(w, q, bias, IntegerScales.Eight(ws) * Vector256.Load(xs), s0);
            s1 = Group(w + 256, q + 256, bias + 8, IntegerScales.Eight(ws + 8) * Vector256.Load(xs + 8), s1);
        }
        if (b0 + 8 <= blocks)
        {
            s0 = Group(w, q, bias, IntegerScales.Eight(ws) * Vector256.Load(xs), s0);
            b0 += 8;
        }
        if (b0 < blocks) s1 += Tail(row, scales, x, b0, blocks - b0);
        return Vector256.Sum(s0 + s1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot4(byte* row, Half* scales, QuantizedRow x0, QuantizedRow x1, QuantizedRow x2, QuantizedRow x3, int blocks, float* result)
    {
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
        int b0 = 0;
        for (; b0 + 8 <= blocks; b0 += 8)
        {
            var rowScales = IntegerScales.Eight(scales + b0);
            byte* w = row + b0 * 32;
            var w0 = Unsigned(w, 0);
            var w1 = Unsigned(w, 1);
            var w2 = Unsigned(w, 2);
            var w3 = Unsigned(w, 3);
            var w4 = Unsigned(w, 4);
            var w5 = Unsigned(w, 5);
            var w6 = Unsigned(w, 6);
            var w7 = Unsigned(w, 7);
            int o = b0 * 32;
            s0 = Group(w0, w1, w2, w3, w4, w5, w6, w7, x0.Values + o, x0.Biases + b0, rowScales * Vector256.Load(x0.Scales + b0), s0);
            s1 = Group(w0, w1, w2, w3, w4, w5, w6, w7, x1.Values + o, x1.Biases + b0, rowScales * Vector256.Load(x1.Scales + b0), s1);
            s2 = Group(w0, w1, w2, w3, w4, w5, w6, w7, x2.Values + o, x2.Biases + b0, rowScales * Vector256.Load(x2.Scales + b0), s2);
            s3 = Group(w0, w1, w2, w3, w4, w5, w6, w7, x3.Values + o, x3.Biases + b0, rowScales * Vector256.Load(x3.Scales + b0), s3);
        }
        if (b0 < blocks)
        {
            s0 += Tail(row, scales, x0, b0, blocks - b0);
            s1 += Tail(row, scales, x1, b0, blocks - b0);
            s2 += Tail(row, scales, x2, b0, blocks - b0);
            s3 += Tail(row, scales, x3, b0, blocks - b0);
        }
        result[0] = Vector256.Sum(s0);
        result[1] = Vector256.Sum(s1);
        result[2] = Vector256.Sum(s2);
        result[3] = Vector256.Sum(s3);
    }

    public static void Rows4(byte* row, long rowBytes, Half* scales, QuantizedRow x, int blocks, float* result) =>
        RowsOneByOne.Rows4<VnniInt8Dots>(row, rowBytes, scales, x, blocks, result);
}

/// <summary>AVX-512 CPUs with AVX-VNNI: <see cref="VnniInt8Dots"/> for one token, the 512-bit kernel for four (which reads each decoded weight block four times from registers).</summary>
unsafe readonly struct Avx512VnniInt8Dots : IIntegerDots
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot1(byte* row, Half* scales, QuantizedRow x, int blocks) => VnniInt8Dots.Dot1(row, scales, x, blocks);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Dot4(byte* row, Half* scales, QuantizedRow x0, QuantizedRow x1, QuantizedRow x2, QuantizedRow x3, int blocks, float* result) =>
        Avx512Int8Dots.Dot4(row, scales, x0, x1, x2, x3, blocks, result);

    public static void Rows4(byte* row, long rowBytes, Half* scales, QuantizedRow x, int blocks, float* result) =>
        RowsOneByOne.Rows4<VnniInt8Dots>(row, rowBytes, scales, x, blocks, result);
}
