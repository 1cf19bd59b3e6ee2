using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LlavaModal.Core.Kernels;

/// <summary>A 512-bit one-token kernel that runs rows of whole steps of 16 blocks on a loop of its own.</summary>
unsafe interface IWholeSteps
{
    /// <summary>A row of whole steps of 16 blocks, its lanes not yet added.</summary>
    static abstract Vector512<float> Whole(byte* row, Half* scales, QuantizedRow x, int blocks);
    /// <summary>A row of any width, its lanes not yet added, and in <paramref name="last"/> what its blocks past the vector steps sum to.</summary>
    static abstract Vector512<float> Any(byte* row, Half* scales, QuantizedRow x, int blocks, out float last);
}

/// <summary>
/// <see cref="IIntegerDots.Dot1"/> and <see cref="IIntegerDots.Rows4"/> for the 512-bit int8 and int4 kernels: rows of
/// whole steps of 16 blocks through <see cref="IWholeSteps.Whole"/>, four at a time with one joint reduction
/// (<see cref="HorizontalSums.Sum4"/> gives each row's <see cref="HorizontalSums.Sum"/>, so grouping never changes a
/// result; the general loop inside a loop over four rows measured slower than row by row); other widths row by row.
/// </summary>
static unsafe class WholeStepRows
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot1<TDots>(byte* row, Half* scales, QuantizedRow x, int blocks) where TDots : struct, IWholeSteps
    {
        if (blocks % 16 == 0) return HorizontalSums.Sum(TDots.Whole(row, scales, x, blocks));
        return HorizontalSums.Sum(TDots.Any(row, scales, x, blocks, out float last)) + last;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Rows4<TDots>(byte* row, long rowBytes, Half* scales, QuantizedRow x, int blocks, float* result) where TDots : struct, IWholeSteps, IIntegerDots
    {
        if (blocks % 16 != 0)
        {
            RowsOneByOne.Rows4<TDots>(row, rowBytes, scales, x, blocks, result);
            return;
        }
        // A loop, not four inlined copies: those exhaust the JIT's inlining budget and leave calls in the loop.
        var sums = stackalloc Vector512<float>[4];
        for (int k = 0; k < 4; k++) sums[k] = TDots.Whole(row + k * rowBytes, scales + k * blocks, x, blocks);
        HorizontalSums.Sum4(sums[0], sums[1], sums[2], sums[3]).Store(result);
    }
}
