using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlavaModal.Core.Kernels;

/// <summary>
/// The 16 lanes of a vector summed in one fixed order (lane i with i + 8, then i + 4, i + 2, i + 1), for one vector or
/// four at once: <see cref="Sum4"/> gives each vector's <see cref="Sum"/> bit for bit, so a kernel over four rows gives
/// each row's one-row result. Written out because <see cref="Vector512.Sum{T}(Vector512{T})"/>'s order is the JIT's,
/// and summing four vectors jointly takes 7 shuffles and 6 adds where four separate sums take about 26 instructions each.
/// </summary>
static class HorizontalSums
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector512<float> v)
    {
        var h = v.GetLower() + v.GetUpper();
        var q = h.GetLower() + h.GetUpper();
        var p = q + Sse.Shuffle(q, q, 0b01_00_11_10);
        return (p + Sse.Shuffle(p, p, 0b10_11_00_01)).ToScalar();
    }

    /// <summary>Lane k of the result: <see cref="Sum"/> of the k-th argument.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d)
    {
        // 128-bit lanes: [a0 a1 b0 b1] + [a2 a3 b2 b3], then [a b c d lane 0] + [a b c d lane 1], then within each lane.
        var ab = Avx512F.Shuffle4x128(a, b, 0b01_00_01_00) + Avx512F.Shuffle4x128(a, b, 0b11_10_11_10);
        var cd = Avx512F.Shuffle4x128(c, d, 0b01_00_01_00) + Avx512F.Shuffle4x128(c, d, 0b11_10_11_10);
        var q = Avx512F.Shuffle4x128(ab, cd, 0b10_00_10_00) + Avx512F.Shuffle4x128(ab, cd, 0b11_01_11_01);
        var p = q + Avx512F.Permute4x32(q, 0b01_00_11_10);
        var r = p + Avx512F.Permute4x32(p, 0b10_11_00_01);
        return Avx512F.PermuteVar16x32(r, Vector512.Create(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)).GetLower().GetLower();
    }
}
