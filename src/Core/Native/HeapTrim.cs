using System.Runtime.InteropServices;

namespace LlavaModal.Core.Native;

/// <summary>
/// Gives the C heap's free pages back to the system (glibc's <c>malloc_trim</c>). Loading frees as much as it keeps
/// (each checkpoint tensor read, then packed or converted), and glibc returns only the free memory at the top of a heap
/// by itself, so the freed middles stayed resident after a load (70m shape from an f32 checkpoint: 357 → 327 MiB after
/// loading f32, 256 → 248 MiB bf16; int8/int4 and the 1.1B shape within 5 MiB: their heaps hold what they keep).
/// </summary>
static partial class HeapTrim
{
    /// <summary>Trims every glibc arena; nothing elsewhere (another C library, another OS).</summary>
    internal static void Run()
    {
        if (!OperatingSystem.IsLinux()) return;
        try
        {
            MallocTrim(0);
        }
        catch (EntryPointNotFoundException)
        {
            // musl and other C libraries have no malloc_trim.
        }
        catch (DllNotFoundException)
        {
        }
    }

    [LibraryImport("libc.so.6", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}
