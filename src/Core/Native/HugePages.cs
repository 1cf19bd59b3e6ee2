using System.Runtime.InteropServices;

namespace LlavaModal.Core.Native;

/// <summary>
/// Transparent huge pages for the large buffers of a run: our packed weights (<see cref="Allocate"/>) and libtorch's.
/// libtorch is asked for transparent huge pages on its large allocations (<c>THP_MEM_ALLOC_ENABLE=1</c>, read by
/// <c>libc10</c> at its first allocation; set by <see cref="NativeEnvironment"/>) unless the environment already says otherwise. A prompt's activations are
/// tensors of tens of MB made and freed per layer; at 4 KiB pages each one faulted in again every time (3.8 M faults
/// and ~14% of an image prompt's time on a OneVision-0.5B shape, against 0.7 M with huge pages).
/// </summary>
static partial class HugePages
{
    internal const string Variable = "THP_MEM_ALLOC_ENABLE";

    /// <summary>The variable as the C environment holds it (what libtorch reads), or null; Linux only.</summary>
    internal static string? NativeValue() => NativeEnvironment.NativeValue(Variable);

    /// <summary>The size of a transparent huge page on x86-64 and most Arm64 Linux kernels.</summary>
    internal const nuint PageBytes = 2 << 20;

    const int AdviseHugePage = 14; // MADV_HUGEPAGE

    /// <summary>
    /// Native memory for a large buffer the kernels stream every step (packed weights), 64-byte aligned; on Linux a
    /// buffer of at least one huge page is mapped on its own, starts on a huge-page boundary and is advised for
    /// transparent huge pages, so a decode step's sweep over the weights takes one TLB entry per 2 MiB, not per 4 KiB.
    /// At 4 KiB pages a 1.1B f32 step touched a million pages and ran at a third of its speed once a long prompt had
    /// churned the page tables. Mapped rather than taken from malloc, it goes back to the system when freed, and the f32
    /// copies a load packs layer by layer leave no holes under the weights that stay resident (330 MiB at 1.1B in int8).
    /// Free with <see cref="Free"/> and the same size.
    /// </summary>
    /// <exception cref="OutOfMemoryException">The system refused the mapping.</exception>
    internal static unsafe void* Allocate(nuint bytes)
    {
        if (!Mapped(bytes)) return NativeMemory.AlignedAlloc(bytes, 64);
        // One huge page more than asked, then the unaligned head and the tail past the buffer given back.
        nuint span = bytes + PageBytes, length = Rounded(bytes);
        var start = (byte*)MMap(null, span, ProtectRead | ProtectWrite, MapPrivate | MapAnonymous, -1, 0);
        if (start == (byte*)-1) throw new OutOfMemoryException($"mmap of {span} bytes for packed weights failed (errno {Marshal.GetLastPInvokeError()}).");
        nuint head = (PageBytes - (nuint)start % PageBytes) % PageBytes;
        if (head > 0) _ = MUnmap(start, head);
        if (span - head > length) _ = MUnmap(start + head + length, span - head - length);
        // Advice only: refused (THP off or not built), the buffer keeps 4 KiB pages.
        _ = MAdvise(start + head, length, AdviseHugePage);
        return start + head;
    }

    /// <summary>Frees what <see cref="Allocate"/> gave for <paramref name="bytes"/> (null is ignored).</summary>
    internal static unsafe void Free(void* buffer, nuint bytes)
    {
        if (buffer is null) return;
        if (Mapped(bytes)) _ = MUnmap(buffer, Rounded(bytes));
        else NativeMemory.AlignedFree(buffer);
    }

    static bool Mapped(nuint bytes) => OperatingSystem.IsLinux() && bytes >= PageBytes;

    /// <summary><paramref name="bytes"/> rounded up to whole 4 KiB pages (what a mapping covers).</summary>
    static nuint Rounded(nuint bytes) => (bytes + 4095) & ~(nuint)4095;

    const int ProtectRead = 1, ProtectWrite = 2, MapPrivate = 2, MapAnonymous = 0x20;

    [LibraryImport("libc.so.6", EntryPoint = "mmap", SetLastError = true)]
    private static unsafe partial void* MMap(void* address, nuint length, int protection, int flags, int descriptor, nint offset);

    [LibraryImport("libc.so.6", EntryPoint = "munmap")]
    private static unsafe partial int MUnmap(void* address, nuint length);

    [LibraryImport("libc.so.6", EntryPoint = "madvise")]
    private static unsafe partial int MAdvise(void* address, nuint length, int advice);

}
