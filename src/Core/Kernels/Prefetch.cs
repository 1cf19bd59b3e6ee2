using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace LlavaModal.Core.Kernels;

/// <summary>
/// Software prefetch for the one-token kernels, spread through their loops: each step asks for the cache lines it will
/// read <see cref="Ahead"/> bytes later (a kernel over four rows at once, for the same place four rows on), into L2.
/// A burst of a whole row's lines at once (what the kernels did before) overflowed the core's queue of misses on Zen 4:
/// one thread reading 1 GiB ran at 22 GB/s with bursts, 25-27 without prefetch or spread; the kernels, which compute
/// between their loads and so run less far ahead on their own, went from 12-26 to 25-33 GB/s (README, Performance).
/// </summary>
static unsafe class Prefetch
{
    /// <summary>How far ahead of its reads a one-row loop asks for weights: 1-8 KiB measured within noise, 4 KiB best (Zen 4, two threads).</summary>
    internal const long Ahead = 4096;

    /// <summary>Asks for the <paramref name="bytes"/> from <paramref name="at"/> into L2, a line (64 bytes) at a time; nothing where the CPU has no prefetch instruction.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Lines(byte* at, int bytes)
    {
        if (!Sse.IsSupported) return;
        for (int k = 0; k < bytes; k += 64) Sse.Prefetch1(at + k);
    }
}
