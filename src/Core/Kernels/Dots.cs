using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlavaModal.Core.Kernels;

/// <summary>Dot products of one stored row with activations over its first <c>blocks</c> blocks of 32 (the rest is the caller's scalar tail).</summary>
unsafe interface IDots
{
    /// <summary>False for the scalar path: no blocks, the tail loop does every column.</summary>
    static abstract bool Vectorised { get; }
    static abstract float Dot1(byte* row, float* scales, float* x, int blocks);
    /// <summary>Four activation rows at once: the row is decoded once for all four.</summary>
    static abstract void Dot4(byte* row, float* scales, float* x0, float* x1, float* x2, float* x3, int blocks, float* result);
    /// <summary>
    /// Four stored rows (<paramref name="rowBytes"/> apart, an unscaled format; used for f32) with one activation row, each
    /// sum exactly <see cref="Dot1"/>'s (so grouping rows never changes a result): four weight streams in flight and the
    /// activations read once, where one row at a time lets a short row's loop and horizontal sum dominate (a 512-wide
    /// row is 16 blocks).
    /// </summary>
    static abstract void DotRows4(byte* row, long rowBytes, float* x, int blocks, float* result);
    static abstract void Decode(byte* row, float* scales, int blocks, float* target);
}

unsafe readonly struct ScalarDots : IDots
{
    public static bool Vectorised => false;
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot1(byte* row, float* scales, float* x, int blocks) => 0;
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot4(byte* row, float* scales, float* x0, float* x1, float* x2, float* x3, int blocks, float* result) => new Span<float>(result, 4).Clear();
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DotRows4(byte* row, long rowBytes, float* x, int blocks, float* result) => new Span<float>(result, 4).Clear();
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Decode(byte* row, float* scales, int blocks, float* target) { }
}

unsafe readonly struct Avx512Dots<TBlock> : IDots where TBlock : struct, IBlock512
{
    public static bool Vectorised => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot1(byte* row, float* scales, float* x, int blocks)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        int b = 0;
        // Two blocks a step: four independent sums hide the FMA latency.
        for (; b + 1 < blocks; b += 2)
        {
            Prefetch.Lines(row + b * TBlock.BlockBytes + Prefetch.Ahead, 2 * TBlock.BlockBytes);
            TBlock.Load(row, scales, b, out var w0, out var w1);
            TBlock.Load(row, scales, b + 1, out var w2, out var w3);
            float* p = x + b * 32;
            a0 = Avx512F.FusedMultiplyAdd(w0, Vector512.Load(p), a0);
            a1 = Avx512F.FusedMultiplyAdd(w1, Vector512.Load(p + 16), a1);
            a2 = Avx512F.FusedMultiplyAdd(w2, Vector512.Load(p + 32), a2);
            a3 = Avx512F.FusedMultiplyAdd(w3, Vector512.Load(p + 48), a3);
        }
        if (b < blocks)
        {
            TBlock.Load(row, scales, b, out var w0, out var w1);
            a0 = Avx512F.FusedMultiplyAdd(w0, Vector512.Load(x + b * 32), a0);
            a1 = Avx512F.FusedMultiplyAdd(w1, Vector512.Load(x + b * 32 + 16), a1);
        }
        return Vector512.Sum((a0 + a1) + (a2 + a3));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot4(byte* row, float* scales, float* x0, float* x1, float* x2, float* x3, int blocks, float* result)
    {
        Vector512<float> a0 = default, b0 = default, a1 = default, b1 = default, a2 = default, b2 = default, a3 = default, b3 = default;
        for (int b = 0; b < blocks; b++)
        {
            TBlock.Load(row, scales, b, out var low, out var high);
            int o = b * 32;
            a0 = Avx512F.FusedMultiplyAdd(low, Vector512.Load(x0 + o), a0);
            b0 = Avx512F.FusedMultiplyAdd(high, Vector512.Load(x0 + o + 16), b0);
            a1 = Avx512F.FusedMultiplyAdd(low, Vector512.Load(x1 + o), a1);
            b1 = Avx512F.FusedMultiplyAdd(high, Vector512.Load(x1 + o + 16), b1);
            a2 = Avx512F.FusedMultiplyAdd(low, Vector512.Load(x2 + o), a2);
            b2 = Avx512F.FusedMultiplyAdd(high, Vector512.Load(x2 + o + 16), b2);
            a3 = Avx512F.FusedMultiplyAdd(low, Vector512.Load(x3 + o), a3);
            b3 = Avx512F.FusedMultiplyAdd(high, Vector512.Load(x3 + o + 16), b3);
        }
        result[0] = Vector512.Sum(a0 + b0);
        result[1] = Vector512.Sum(a1 + b1);
        result[2] = Vector512.Sum(a2 + b2);
        result[3] = Vector512.Sum(a3 + b3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DotRows4(byte* row, long rowBytes, float* x, int blocks, float* result)
    {
        // Dot1's four sums per row (two blocks a step), for four rows: 16 of the 32 registers. Written out: helpers
        // taking the sums by reference would keep them in memory.
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, c0 = default, c1 = default, c2 = default, c3 = default;
        Vector512<float> e0 = default, e1 = default, e2 = default, e3 = default, g0 = default, g1 = default, g2 = default, g3 = default;
        byte* r1 = row + rowBytes, r2 = r1 + rowBytes, r3 = r2 + rowBytes;
        long next = 4 * rowBytes;
        int b = 0;
        for (; b + 1 < blocks; b += 2)
        {
            // The next four rows, at this step's place in them.
            int at = b * TBlock.BlockBytes;
            Prefetch.Lines(row + at + next, 2 * TBlock.BlockBytes);
            Prefetch.Lines(r1 + at + next, 2 * TBlock.BlockBytes);
            Prefetch.Lines(r2 + at + next, 2 * TBlock.BlockBytes);
            Prefetch.Lines(r3 + at + next, 2 * TBlock.BlockBytes);
            float* p = x + b * 32;
            var x0 = Vector512.Load(p);
            var x1 = Vector512.Load(p + 16);
            var x2 = Vector512.Load(p + 32);
            var x3 = Vector512.Load(p + 48);
            TBlock.Load(row, null, b, out var w0, out var w1);
            TBlock.Load(row, null, b + 1, out var w2, out var w3);
            a0 = Avx512F.FusedMultiplyAdd(w0, x0, a0);
            a1 = Avx512F.FusedMultiplyAdd(w1, x1, a1);
            a2 = Avx512F.FusedMultiplyAdd(w2, x2, a2);
            a3 = Avx512F.FusedMultiplyAdd(w3, x3, a3);
            TBlock.Load(r1, null, b, out w0, out w1);
            TBlock.Load(r1, null, b + 1, out w2, out w3);
            c0 = Avx512F.FusedMultiplyAdd(w0, x0, c0);
            c1 = Avx512F.FusedMultiplyAdd(w1, x1, c1);
            c2 = Avx512F.FusedMultiplyAdd(w2, x2, c2);
            c3 = Avx512F.FusedMultiplyAdd(w3, x3, c3);
            TBlock.Load(r2, null, b, out w0, out w1);
            TBlock.Load(r2, null, b + 1, out w2, out w3);
            e0 = Avx512F.FusedMultiplyAdd(w0, x0, e0);
            e1 = Avx512F.FusedMultiplyAdd(w1, x1, e1);
            e2 = Avx512F.FusedMultiplyAdd(w2, x2, e2);
            e3 = Avx512F.FusedMultiplyAdd(w3, x3, e3);
            TBlock.Load(r3, null, b, out w0, out w1);
            TBlock.Load(r3, null, b + 1, out w2, out w3);
            g0 = Avx512F.FusedMultiplyAdd(w0, x0, g0);
            g1 = Avx512F.FusedMultiplyAdd(w1, x1, g1);
            g2 = Avx512F.FusedMultiplyAdd(w2, x2, g2);
            g3 = Avx512F.FusedMultiplyAdd(w3, x3, g3);
        }
        if (b < blocks)
        {
            var x0 = Vector512.Load(x + b * 32);
            var x1 = Vector512.Load(x + b * 32 + 16);
            TBlock.Load(row, null, b, out var w0, out var w1);
            a0 = Avx512F.FusedMultiplyAdd(w0, x0, a0);
            a1 = Avx512F.FusedMultiplyAdd(w1, x1, a1);
            TBlock.Load(r1, null, b, out w0, out w1);
            c0 = Avx512F.FusedMultiplyAdd(w0, x0, c0);
            c1 = Avx512F.FusedMultiplyAdd(w1, x1, c1);
            TBlock.Load(r2, null, b, out w0, out w1);
            e0 = Avx512F.FusedMultiplyAdd(w0, x0, e0);
            e1 = Avx512F.FusedMultiplyAdd(w1, x1, e1);
            TBlock.Load(r3, null, b, out w0, out w1);
            g0 = Avx512F.FusedMultiplyAdd(w0, x0, g0);
            g1 = Avx512F.FusedMultiplyAdd(w1, x1, g1);
        }
        result[0] = Vector512.Sum((a0 + a1) + (a2 + a3));
        result[1] = Vector512.Sum((c0 + c1) + (c2 + c3));
        result[2] = Vector512.Sum((e0 + e1) + (e2 + e3));
        result[3] = Vector512.Sum((g0 + g1) + (g2 + g3));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Decode(byte* row, float* scales, int blocks, float* target)
    {
        for (int b = 0; b < blocks; b++)
        {
            TBlock.Load(row, scales, b, out var low, out var high);
            low.Store(target + b * 32);
            high.Store(target + b * 32 + 16);
        }
    }
}

unsafe readonly struct Avx2Dots<TBlock> : IDots where TBlock : struct, IBlock256
{
    public static bool Vectorised => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) => System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot1(byte* row, float* scales, float* x, int blocks)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int b = 0; b < blocks; b++)
        {
            Prefetch.Lines(row + b * TBlock.BlockBytes + Prefetch.Ahead, TBlock.BlockBytes);
            TBlock.Load(row, scales, b, out var w0, out var w1, out var w2, out var w3);
            float* p = x + b * 32;
            a0 = Fma(w0, Vector256.Load(p), a0);
            a1 = Fma(w1, Vector256.Load(p + 8), a1);
            a2 = Fma(w2, Vector256.Load(p + 16), a2);
            a3 = Fma(w3, Vector256.Load(p + 24), a3);
        }
        return Vector256.Sum((a0 + a1) + (a2 + a3));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot4(byte* row, float* scales, float* x0, float* x1, float* x2, float* x3, int blocks, float* result)
    {
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (int b = 0; b < blocks; b++)
        {
            TBlock.Load(row, scales, b, out var w0, out var w1, out var w2, out var w3);
            int o = b * 32;
            s0 = Fma(w3, Vector256.Load(x0 + o + 24), Fma(w2, Vector256.Load(x0 + o + 16), Fma(w1, Vector256.Load(x0 + o + 8), Fma(w0, Vector256.Load(x0 + o), s0))));
            s1 = Fma(w3, Vector256.Load(x1 + o + 24), Fma(w2, Vector256.Load(x1 + o + 16), Fma(w1, Vector256.Load(x1 + o + 8), Fma(w0, Vector256.Load(x1 + o), s1))));
            s2 = Fma(w3, Vector256.Load(x2 + o + 24), Fma(w2, Vector256.Load(x2 + o + 16), Fma(w1, Vector256.Load(x2 + o + 8), Fma(w0, Vector256.Load(x2 + o), s2))));
            s3 = Fma(w3, Vector256.Load(x3 + o + 24), Fma(w2, Vector256.Load(x3 + o + 16), Fma(w1, Vector256.Load(x3 + o + 8), Fma(w0, Vector256.Load(x3 + o), s3))));
        }
        result[0] = Vector256.Sum(s0);
        result[1] = Vector256.Sum(s1);
        result[2] = Vector256.Sum(s2);
        result[3] = Vector256.Sum(s3);
    }

    // Dot1's four sums for four rows would need 16 of AVX2's 16 registers: one row at a time instead (not measured on an AVX2-only CPU).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DotRows4(byte* row, long rowBytes, float* x, int blocks, float* result)
    {
        for (int r = 0; r < 4; r++) result[r] = Dot1(row + r * rowBytes, null, x, blocks);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Decode(byte* row, float* scales, int blocks, float* target)
    {
        for (int b = 0; b < blocks; b++)
        {
            TBlock.Load(row, scales, b, out var v0, out var v1, out var v2, out var v3);
            float* t = target + b * 32;
            v0.Store(t);
            v1.Store(t + 8);
            v2.Store(t + 16);
            v3.Store(t + 24);
        }
    }
}
