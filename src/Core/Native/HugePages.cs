using System.Runtime.InteropServices;

namespace LlavaModal.Core.Native;

/// <summary>
/// Transparent huge pages for the large buffers of a run: our packed weights (<see cref="Allocate"/>) and libtorch's.
/// Asks libtorch for transparent huge pages on its large allocations (<c>THP_MEM_ALLOC_ENABLE=1</c>, read by
/// <c>libc10</c> at its first allocation), unless the environment already says otherwise. A prompt's activations are
/// tensors of tens of MB made and freed per layer; at 4 KiB pages each one faulted in again every time (3.8 M faults
/// and ~14% of an image prompt's time on a OneVision-0.5B shape, against 0.7 M with huge pages).
/// </summary>
static partial class HugePages
{
    internal const string Variable = "THP_MEM_ALLOC_ENABLE";

    /// <summary>Sets the variable in the native environment (where libtorch reads it) when it is not set; Linux only.</summary>
    internal static void PreferForTorch()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable(Variable) is not null) return;
        try
        {
            // .NET's SetEnvironmentVariable changes only the managed copy on Unix; libtorch reads the C environment.
            _ = SetEnv(Variable, "1", 0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc: libtorch keeps its default pages.
        }
    }

    /// <summary>The variable as the C environment holds it (what libtorch reads), or null; Linux only.</summary>
    internal static string? NativeValue() => Marshal.PtrToStringUTF8(GetEnv(Variable));

    /// <summary>The size of a transparent huge page on x86-64 and most Arm64 Linux kernels.</summary>
    internal const nuint PageBytes = 2 << 20;

    const int AdviseHugePage = 14; // MADV_HUGEPAGE

    /// <summary>
    /// Native memory for a large buffer the kernels stream every step (packed weights), 64-byte aligned; on Linux a
    /// buffer of at least one huge page starts on a huge-page boundary and is advised for transparent huge pages, so a
    /// decode step's sweep over the weights takes one TLB entry per 2 MiB, not per 4 KiB. At 4 KiB pages a 1.1B f32
    /// step touched a million pages and ran at a third of its speed once a long prompt had churned the page tables.
    /// Free with <see cref="Free"/>.
    /// </summary>
    internal static unsafe void* Allocate(nuint bytes)
    {
        if (!OperatingSystem.IsLinux() || bytes < PageBytes) return NativeMemory.AlignedAlloc(bytes, 64);
        var buffer = NativeMemory.AlignedAlloc(bytes, PageBytes);
        try
        {
            // Advice only: refused (an old kernel, THP off), the buffer keeps 4 KiB pages. The partial last huge page
            // is not covered, so nothing past the buffer becomes resident.
            _ = MAdvise(buffer, bytes, AdviseHugePage);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
        return buffer;
    }

    /// <summary>Frees what <see cref="Allocate"/> gave (null is ignored).</summary>
    internal static unsafe void Free(void* buffer) => NativeMemory.AlignedFree(buffer);

    [LibraryImport("libc.so.6", EntryPoint = "madvise")]
    private static unsafe partial int MAdvise(void* address, nuint length, int advice);

    [LibraryImport("libc.so.6", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr GetEnv(string name);

    [LibraryImport("libc.so.6", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
