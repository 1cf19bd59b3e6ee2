using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlavaModal.Core.Kernels;

/// <summary>
/// The innermost step of <see cref="Gemm"/>: a tile of <see cref="Height"/> tokens by <see cref="Width"/> outputs,
/// <c>y[t, j] (+)= Σₖ x[t, k] panel[k, j]</c>, its sums held in registers while <c>k</c> runs. Each step loads one
/// panel row (the weights, already widened to f32 and transposed) and broadcasts one activation per token.
/// </summary>
unsafe interface IGemmTile
{
    /// <summary>Outputs per tile (the packed panel's width).</summary>
    static abstract int Width { get; }
    /// <summary>Tokens per tile.</summary>
    static abstract int Height { get; }

    /// <summary>
    /// One tile: <paramref name="x"/> is the first token's activations at the chunk's first column (token <c>i</c> at
    /// <c>x + i·xStride</c>; tokens past <paramref name="rows"/> repeat the last and their sums are dropped);
    /// <paramref name="y"/> receives all <see cref="Height"/> × <see cref="Width"/> sums (row <c>i</c> at <c>y + i·yStride</c>),
    /// added to what is there when <paramref name="accumulate"/>.
    /// </summary>
    static abstract void Run(float* panel, int depth, float* x, long xStride, int rows, float* y, long yStride, bool accumulate);
}

/// <summary>
/// 8 tokens × 32 outputs in sixteen 512-bit sums: per step two panel loads and eight broadcasts feed sixteen FMAs, so
/// the FMA units, not the loads, set the pace (32 vector registers hold the sums, the panel row and a broadcast).
/// </summary>
unsafe readonly struct Avx512Tile : IGemmTile
{
    public static int Width => 32;
    public static int Height => 8;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(float* panel, int depth, float* x, long xStride, int rows, float* y, long yStride, bool accumulate)
    {
        float* x0 = x, x1 = x + Math.Min(1, rows - 1) * xStride, x2 = x + Math.Min(2, rows - 1) * xStride, x3 = x + Math.Min(3, rows - 1) * xStride;
        float* x4 = x + Math.Min(4, rows - 1) * xStride, x5 = x + Math.Min(5, rows - 1) * xStride, x6 = x + Math.Min(6, rows - 1) * xStride, x7 = x + Math.Min(7, rows - 1) * xStride;
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        for (int k = 0; k < depth; k++)
        {
            var b0 = Vector512.Load(panel + k * 32);
            var b1 = Vector512.Load(panel + k * 32 + 16);
            var a = Vector512.Create(x0[k]);
            c00 = Avx512F.FusedMultiplyAdd(a, b0, c00);
            c01 = Avx512F.FusedMultiplyAdd(a, b1, c01);
            a = Vector512.Create(x1[k]);
            c10 = Avx512F.FusedMultiplyAdd(a, b0, c10);
            c11 = Avx512F.FusedMultiplyAdd(a, b1, c11);
            a = Vector512.Create(x2[k]);
            c20 = Avx512F.FusedMultiplyAdd(a, b0, c20);
            c21 = Avx512F.FusedMultiplyAdd(a, b1, c21);
            a = Vector512.Create(x3[k]);
            c30 = Avx512F.FusedMultiplyAdd(a, b0, c30);
            c31 = Avx512F.FusedMultiplyAdd(a, b1, c31);
            a = Vector512.Create(x4[k]);
            c40 = Avx512F.FusedMultiplyAdd(a, b0, c40);
            c41 = Avx512F.FusedMultiplyAdd(a, b1, c41);
            a = Vector512.Create(x5[k]);
            c50 = Avx512F.FusedMultiplyAdd(a, b0, c50);
            c51 = Avx512F.FusedMultiplyAdd(a, b1, c51);
            a = Vector512.Create(x6[k]);
            c60 = Avx512F.FusedMultiplyAdd(a, b0, c60);
            c61 = Avx512F.FusedMultiplyAdd(a, b1, c61);
            a = Vector512.Create(x7[k]);
            c70 = Avx512F.FusedMultiplyAdd(a, b0, c70);
            c71 = Avx512F.FusedMultiplyAdd(a, b1, c71);
        }
        Store(y, c00, c01, accumulate);
        Store(y + yStride, c10, c11, accumulate);
        Store(y + 2 * yStride, c20, c21, accumulate);
        Store(y + 3 * yStride, c30, c31, accumulate);
        Store(y + 4 * yStride, c40, c41, accumulate);
        Store(y + 5 * yStride, c50, c51, accumulate);
        Store(y + 6 * yStride, c60, c61, accumulate);
        Store(y + 7 * yStride, c70, c71, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(float* y, Vector512<float> low, Vector512<float> high, bool accumulate)
    {
        if (accumulate)
        {
            low += Vector512.Load(y);
            high += Vector512.Load(y + 16);
        }
        low.Store(y);
        high.Store(y + 16);
    }
}

/// <summary>6 tokens × 16 outputs in twelve 256-bit sums: the largest tile whose sums, panel row and broadcast fit AVX2's 16 registers.</summary>
unsafe readonly struct Avx2Tile : IGemmTile
{
    public static int Width => 16;
    public static int Height => 6;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) => System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(float* panel, int depth, float* x, long xStride, int rows, float* y, long yStride, bool accumulate)
    {
        float* x0 = x, x1 = x + Math.Min(1, rows - 1) * xStride, x2 = x + Math.Min(2, rows - 1) * xStride;
        float* x3 = x + Math.Min(3, rows - 1) * xStride, x4 = x + Math.Min(4, rows - 1) * xStride, x5 = x + Math.Min(5, rows - 1) * xStride;
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int k = 0; k < depth; k++)
        {
            var b0 = Vector256.Load(panel + k * 16);
            var b1 = Vector256.Load(panel + k * 16 + 8);
            var a = Vector256.Create(x0[k]);
            c00 = Fma(a, b0, c00);
            c01 = Fma(a, b1, c01);
            a = Vector256.Create(x1[k]);
            c10 = Fma(a, b0, c10);
            c11 = Fma(a, b1, c11);
            a = Vector256.Create(x2[k]);
            c20 = Fma(a, b0, c20);
            c21 = Fma(a, b1, c21);
            a = Vector256.Create(x3[k]);
            c30 = Fma(a, b0, c30);
            c31 = Fma(a, b1, c31);
            a = Vector256.Create(x4[k]);
            c40 = Fma(a, b0, c40);
            c41 = Fma(a, b1, c41);
            a = Vector256.Create(x5[k]);
            c50 = Fma(a, b0, c50);
            c51 = Fma(a, b1, c51);
        }
        Store(y, c00, c01, accumulate);
        Store(y + yStride, c10, c11, accumulate);
        Store(y + 2 * yStride, c20, c21, accumulate);
        Store(y + 3 * yStride, c30, c31, accumulate);
        Store(y + 4 * yStride, c40, c41, accumulate);
        Store(y + 5 * yStride, c50, c51, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(float* y, Vector256<float> low, Vector256<float> high, bool accumulate)
    {
        if (accumulate)
        {
            low += Vector256.Load(y);
            high += Vector256.Load(y + 8);
        }
        low.Store(y);
        high.Store(y + 8);
    }
}

/// <summary>The same tile in plain C#: the fallback, and what tests compare the vector tiles with.</summary>
unsafe readonly struct ScalarTile : IGemmTile
{
    public static int Width => 8;
    public static int Height => 4;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(float* panel, int depth, float* x, long xStride, int rows, float* y, long yStride, bool accumulate)
    {
        for (int i = 0; i < 4; i++)
        {
            float* xi = x + Math.Min(i, rows - 1) * xStride;
            float* yi = y + i * yStride;
            for (int j = 0; j < 8; j++)
            {
                float sum = 0;
                for (int k = 0; k < depth; k++) sum += xi[k] * panel[k * 8 + j];
                yi[j] = accumulate ? yi[j] + sum : sum;
            }
        }
    }
}
