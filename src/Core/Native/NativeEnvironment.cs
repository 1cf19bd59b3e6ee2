using System.Runtime.InteropServices;

namespace LlavaModal.Core.Native;

/// <summary>
/// Defaults for what libtorch and its OpenMP read from the C environment when they start, set before they load
/// (<see cref="TorchNativeRuntime.EnsureLoadable"/>) and only where the user has not set them: huge pages for libtorch's
/// large allocations (<see cref="HugePages"/>) and passive waiting for OpenMP's threads. Child processes inherit them
/// like any environment variable (<see cref="Defaulted"/> names them).
/// </summary>
static partial class NativeEnvironment
{
    /// <summary>OpenMP's wait policy: <c>PASSIVE</c> unless set.</summary>
    /// <remarks>
    /// libtorch's OpenMP threads otherwise spin after every parallel op, on cores that the kernels' own threads
    /// (<see cref="Kernels.KernelPool"/>) and other processes need: a 511-token prompt ran 1.2-1.4x faster passive on
    /// the 70m shape and 1.05-1.13x on the 1.1B one (2 threads, alternating runs; decode within noise), and on a loaded
    /// 2-core machine <c>eval --scenes 100 --threads 2</c> took 17.6 s spinning against 3.9 s passive. The CLI set it
    /// first; every host (server, Semantic Kernel, a library user) gets it now.
    /// </remarks>
    internal const string OpenMpWaitPolicy = "OMP_WAIT_POLICY";

    static readonly List<string> SetHere = [];

    /// <summary>The variables this process set (the user had not): child processes that are not LlavaModal's may want them removed.</summary>
    internal static IReadOnlyList<string> Defaulted
    {
        get
        {
            lock (SetHere) return [.. SetHere];
        }
    }

    /// <summary>Sets the defaults; Linux only.</summary>
    internal static void SetDefaults()
    {
        SetDefault(HugePages.Variable, "1");
        SetDefault(OpenMpWaitPolicy, "PASSIVE");
    }

    /// <summary>Sets <paramref name="name"/> in the C environment (and .NET's copy) unless it is set; Linux with glibc only.</summary>
    static void SetDefault(string name, string value)
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable(name) is not null) return;
        try
        {
            // .NET's SetEnvironmentVariable changes only the managed copy on Unix; native libraries read the C environment.
            if (SetEnv(name, value, 0) != 0) return;
            Environment.SetEnvironmentVariable(name, value);
            lock (SetHere) SetHere.Add(name);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc: the libraries keep their own defaults.
        }
    }

    /// <summary>The variable as the C environment holds it (what native libraries read), or null; Linux only.</summary>
    internal static string? NativeValue(string name) => Marshal.PtrToStringUTF8(GetEnv(name));

    [LibraryImport("libc.so.6", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr GetEnv(string name);

    [LibraryImport("libc.so.6", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
