using System.Runtime.InteropServices;

namespace LlavaModal.Core.Native;

/// <summary>
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

    [LibraryImport("libc.so.6", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr GetEnv(string name);

    [LibraryImport("libc.so.6", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
