using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlavaModal.Core.Kernels;

/// <summary>
/// One token against bf16 rows on AVX-512 without widening instructions: 32 bf16 values loaded as 16 uint pairs are,
/// shifted left by 16, the even elements as floats, and, with the low half cleared, the odd ones. The activations are
/// regrouped once per product to match (each block of 32 as its 16 even then its 16 odd values), so a block costs one
/// load, a shift and an AND where widening took two cross-lane zero-extensions and two shifts; the widening loop ran at
/// about 15 GB/s a core, under half of what the memory gives (README, Performance).
/// </summary>
/// <remarks>The sums are the same products added in another order than <see cref="Avx512Dots{TBlock}"/>'s: a one-token
/// product's results differ from those of several tokens in the last bits, as llama.cpp's do.</remarks>
static unsafe class Bf16Pairs
{
    const int Block = WeightFormats.BlockSize;

    /// <summary>Whether this kernel serves a product: bf16 rows, one token, AVX-512, at least one whole block.</summary>
    internal static bool Serves(KernelIsa isa, PackedMatrix weights, int tokens) =>
        isa == KernelIsa.Avx512 && weights.Format == WeightFormat.BF16 && tokens == 1 && weights.Columns >= Block;

    /// <summary>Rows [start, end) of <paramref name="weights"/> times one token (<paramref name="x"/> plain, <paramref name="paired"/> regrouped by <see cref="Pair"/>), four at a time when rows are at least <see cref="MatMul.FourRowBytes"/> long.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Rows(PackedMatrix weights, float* x, float* paired, float* y, int start, int end)
    {
        int columns = weights.Columns, blocks = columns / Block, tail = blocks * Block;
        long rowBytes = weights.RowBytes;
        byte* row = weights.DataPointer + start * rowBytes;
        float* sums = stackalloc float[4];
        bool grouped = rowBytes >= MatMul.FourRowBytes;
        for (int o = start; o < end;)
        {
            int n = grouped && o + 4 <= end ? 4 : 1;
            if (n == 4) Dot4(row, rowBytes, paired, blocks, sums);
            else sums[0] = Dot(row, paired, blocks);
            for (int k = 0; k < n; k++, row += rowBytes)
            {
                float sum = sums[k];
                var values = (ushort*)row;
                for (int i = tail; i < columns; i++) sum += BitConverter.Int32BitsToSingle(values[i] << 16) * x[i];
                y[o + k] = sum;
            }
            o += n;
        }
    }

    /// <summary>The even elements of 16 bf16 pairs as floats: the low halves moved up.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Even(Vector512<uint> pairs) => Avx512F.ShiftLeftLogical(pairs, 16).AsSingle();

    /// <summary>The odd elements of 16 bf16 pairs as floats: the low halves cleared.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Odd(Vector512<uint> pairs) => (pairs & Vector512.Create(0xFFFF0000u)).AsSingle();

    /// <summary>Four rows against one token, each sum exactly <see cref="Dot"/>'s: four weight streams in flight, the activations read once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Dot4(byte* row, long rowBytes, float* paired, int blocks, float* result)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, c0 = default, c1 = default, c2 = default, c3 = default;
        Vector512<float> e0 = default, e1 = default, e2 = default, e3 = default, g0 = default, g1 = default, g2 = default, g3 = default;
        uint* p = (uint*)row, q = (uint*)(row + rowBytes), r = (uint*)(row + 2 * rowBytes), s = (uint*)(row + 3 * rowBytes);
        long next = 4 * rowBytes;
        int b = 0;
        for (; b + 1 < blocks; b += 2, p += 32, q += 32, r += 32, s += 32, paired += 64)
        {
            // The next four rows, at this step's place in them.
            Prefetch.Lines((byte*)p + next, 128);
            Prefetch.Lines((byte*)q + next, 128);
            Prefetch.Lines((byte*)r + next, 128);
            Prefetch.Lines((byte*)s + next, 128);
            var x0 = Vector512.Load(paired);
            var x1 = Vector512.Load(paired + 16);
            var x2 = Vector512.Load(paired + 32);
            var x3 = Vector512.Load(paired + 48);
            var v0 = Vector512.Load(p);
            var v1 = Vector512.Load(p + 16);
            a0 = Avx512F.FusedMultiplyAdd(Even(v0), x0, a0);
            a1 = Avx512F.FusedMultiplyAdd(Odd(v0), x1, a1);
            a2 = Avx512F.FusedMultiplyAdd(Even(v1), x2, a2);
            a3 = Avx512F.FusedMultiplyAdd(Odd(v1), x3, a3);
            v0 = Vector512.Load(q);
            v1 = Vector512.Load(q + 16);
            c0 = Avx512F.FusedMultiplyAdd(Even(v0), x0, c0);
            c1 = Avx512F.FusedMultiplyAdd(Odd(v0), x1, c1);
            c2 = Avx512F.FusedMultiplyAdd(Even(v1), x2, c2);
            c3 = Avx512F.FusedMultiplyAdd(Odd(v1), x3, c3);
            v0 = Vector512.Load(r);
            v1 = Vector512.Load(r + 16);
            e0 = Avx512F.FusedMultiplyAdd(Even(v0), x0, e0);
            e1 = Avx512F.FusedMultiplyAdd(Odd(v0), x1, e1);
            e2 = Avx512F.FusedMultiplyAdd(Even(v1), x2, e2);
            e3 = Avx512F.FusedMultiplyAdd(Odd(v1), x3, e3);
            v0 = Vector512.Load(s);
            v1 = Vector512.Load(s + 16);
            g0 = Avx512F.FusedMultiplyAdd(Even(v0), x0, g0);
            g1 = Avx512F.FusedMultiplyAdd(Odd(v0), x1, g1);
            g2 = Avx512F.FusedMultiplyAdd(Even(v1), x2, g2);
            g3 = Avx512F.FusedMultiplyAdd(Odd(v1), x3, g3);
        }
        if (b < blocks)
        {
            var x0 = Vector512.Load(paired);
            var x1 = Vector512.Load(paired + 16);
            var v0 = Vector512.Load(p);
            a0 = Avx512F.FusedMultiplyAdd(Even(v0), x0, a0);
            a1 = Avx512F.FusedMultiplyAdd(Odd(v0), x1, a1);
            v0 = Vector512.Load(q);
            c0 = Avx512F.FusedMultiplyAdd(Even(v0), x0, c0);
            c1 = Avx512F.FusedMultiplyAdd(Odd(v0), x1, c1);
            v0 = Vector512.Load(r);
            e0 = Avx512F.FusedMultiplyAdd(Even(v0), x0, e0);
            e1 = Avx512F.FusedMultiplyAdd(Odd(v0), x1, e1);
            v0 = Vector512.Load(s);
            g0 = Avx512F.FusedMultiplyAdd(Even(v0), x0, g0);
            g1 = Avx512F.FusedMultiplyAdd(Odd(v0), x1, g1);
        }
        result[0] = Vector512.Sum((a0 + a1) + (a2 + a3));
        result[1] = Vector512.Sum((c0 + c1) + (c2 + c3));
        result[2] = Vector512.Sum((e0 + e1) + (e2 + e3));
        result[3] = Vector512.Sum((g0 + g1) + (g2 + g3));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Dot(byte* row, float* paired, int blocks)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var p = (uint*)row;
        int b = 0;
        // Two blocks a step: four independent sums hide the FMA latency.
        for (; b + 1 < blocks; b += 2, p += 32, paired += 64)
        {
            Prefetch.Lines((byte*)p + Prefetch.Ahead, 128);
            var v0 = Vector512.Load(p);
            var v1 = Vector512.Load(p + 16);
            a0 = Avx512F.FusedMultiplyAdd(Even(v0), Vector512.Load(paired), a0);
            a1 = Avx512F.FusedMultiplyAdd(Odd(v0), Vector512.Load(paired + 16), a1);
            a2 = Avx512F.FusedMultiplyAdd(Even(v1), Vector512.Load(paired + 32), a2);
            a3 = Avx512F.FusedMultiplyAdd(Odd(v1), Vector512.Load(paired + 48), a3);
        }
        if (b < blocks)
        {
            var v0 = Vector512.Load(p);
            a0 = Avx512F.FusedMultiplyAdd(Even(v0), Vector512.Load(paired), a0);
            a1 = Avx512F.FusedMultiplyAdd(Odd(v0), Vector512.Load(paired + 16), a1);
        }
        return Vector512.Sum((a0 + a1) + (a2 + a3));
    }

    /// <summary>
    /// <paramref name="x"/>'s whole blocks regrouped into this thread's buffer, each block of 32 as its even then its
    /// odd elements; the buffer is reused by the next call on the thread, so a decode step allocates nothing.
    /// </summary>
    internal static float* Pair(float* x, int columns)
    {
        int blocks = columns / Block;
        var kept = buffer;
        if (kept is null || kept.Length < blocks * Block) buffer = kept = GC.AllocateUninitializedArray<float>(Math.Max(blocks * Block, 4096), pinned: true);
        float* target = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(kept));
        var evens = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var odds = evens + Vector512<int>.One;
        for (int b = 0; b < blocks; b++)
        {
            var low = Vector512.Load(x + b * Block);
            var upper = Vector512.Load(x + b * Block + 16);
            Avx512F.PermuteVar16x32x2(low, evens, upper).Store(target + b * Block);
            Avx512F.PermuteVar16x32x2(low, odds, upper).Store(target + b * Block + 16);
        }
        return target;
    }

    // Pinned (the pinned object heap), so its address holds while it lives.
    [ThreadStatic] static float[]? buffer;
}
