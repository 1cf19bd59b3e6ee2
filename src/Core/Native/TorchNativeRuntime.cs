using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace LlavaModal.Core.Native;

/// <summary>What <see cref="TorchNativeRuntime.EnsureLoadable"/> did on this machine.</summary>
public enum NativeCompatStatus
{
    /// <summary>Not checked yet.</summary>
    NotChecked,
    /// <summary>Not Linux x64, or disabled with <c>LLAVAMODAL_NATIVE_COMPAT=0</c>: nothing to do.</summary>
    NotApplicable,
    /// <summary>The system libstdc++ already provides <c>GLIBCXX_3.4.32</c>: TorchSharp loads as shipped.</summary>
    NotNeeded,
    /// <summary>A compatible copy of <c>libLibTorchSharp.so</c> was loaded in place of the shipped one.</summary>
    Patched,
    /// <summary>The fix was needed but could not be applied; see <see cref="TorchNativeRuntime.Diagnostics"/>.</summary>
    Failed,
}

/// <summary>
/// Makes TorchSharp 0.107.0 load on Linux systems whose libstdc++ predates GCC 13 (Debian 12,
/// Ubuntu 22.04). The shipped <c>libLibTorchSharp.so</c> requires <c>GLIBCXX_3.4.32</c> for a
/// single symbol that such systems do not need; on those systems a patched copy is written to a
/// per-user cache (never into the NuGet cache or the application folder) and handed to TorchSharp
/// through a <see cref="DllImportResolver"/>. Runs automatically when any LlavaModal type is first used.
/// </summary>
public static class TorchNativeRuntime
{
    const string LibraryName = "LibTorchSharp";
    const string LibraryFile = "libLibTorchSharp.so";
    // Loaded first, by full path, so the copy's DT_NEEDED entries resolve although it lives outside the package folder.
    static readonly string[] Dependencies = ["libc10.so", "libtorch_cpu.so", "libc10_cuda.so", "libtorch_cuda.so", "libtorch.so"];

    static readonly object Gate = new();
    static IntPtr patchedHandle;

    /// <summary>The outcome of the check on this process.</summary>
    public static NativeCompatStatus Status { get; private set; } = NativeCompatStatus.NotChecked;

    /// <summary>A human-readable account of what was checked and done (for troubleshooting).</summary>
    public static string Diagnostics { get; private set; } = "";

    /// <summary>Path of the patched copy in use, when <see cref="Status"/> is <see cref="NativeCompatStatus.Patched"/>.</summary>
    public static string? PatchedLibraryPath { get; private set; }

    /// <summary>
    /// Checks the system libstdc++ and, only if it lacks <c>GLIBCXX_3.4.32</c>, arranges for TorchSharp to load a
    /// compatible copy of its native glue library. Idempotent and thread-safe; call it before using
    /// TorchSharp directly if no LlavaModal type has been touched yet.
    /// </summary>
    public static NativeCompatStatus EnsureLoadable()
    {
        lock (Gate)
        {
            if (Status != NativeCompatStatus.NotChecked) return Status;
            var log = new System.Text.StringBuilder();
            try
            {
                Status = Apply(log, LibStdCxx.HasVersion, CacheDirectory());
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or DllNotFoundException or BadImageFormatException)
            {
                log.AppendLine($"failed: {e.GetType().Name}: {e.Message}");
                Status = NativeCompatStatus.Failed;
            }
            Diagnostics = log.ToString();
            return Status;
        }
    }

    internal static NativeCompatStatus Apply(System.Text.StringBuilder log, Func<string, string, bool> systemHasVersion, string cacheRoot)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            log.AppendLine("not Linux x64: nothing to do");
            return NativeCompatStatus.NotApplicable;
        }
        if (Environment.GetEnvironmentVariable("LLAVAMODAL_NATIVE_COMPAT") == "0")
        {
            log.AppendLine("disabled by LLAVAMODAL_NATIVE_COMPAT=0");
            return NativeCompatStatus.NotApplicable;
        }
        if (systemHasVersion(ElfCompatPatcher.MissingSymbol, ElfCompatPatcher.MissingVersion))
        {
            log.AppendLine($"system libstdc++ provides {ElfCompatPatcher.MissingVersion}: nothing to do");
            return NativeCompatStatus.NotNeeded;
        }
        log.AppendLine($"system libstdc++ lacks {ElfCompatPatcher.MissingVersion}");

        var torchAssembly = typeof(TorchSharp.torch).Assembly;
        var original = FindShippedLibrary(torchAssembly);
        if (original is null)
        {
            log.AppendLine($"{LibraryFile} not found in the native search directories; leaving TorchSharp to report it");
            return NativeCompatStatus.Failed;
        }
        log.AppendLine($"shipped library: {original}");

        var patched = WritePatchedCopy(original, cacheRoot, log);
        var folder = Path.GetDirectoryName(original)!;
        foreach (var dependency in Dependencies)
        {
            var path = Path.Combine(folder, dependency);
            if (File.Exists(path) && !NativeLibrary.TryLoad(path, out _))
                log.AppendLine($"could not preload {path}");
        }
        patchedHandle = NativeLibrary.Load(patched);
        PatchedLibraryPath = patched;
        try
        {
            NativeLibrary.SetDllImportResolver(torchAssembly, Resolve);
        }
        catch (InvalidOperationException)
        {
            // The application installed its own resolver for TorchSharp; the copy is already loaded by
            // soname, so a resolver that asks for "LibTorchSharp" by name still gets it.
            log.AppendLine("TorchSharp already has a DllImportResolver; relying on the loaded soname");
        }
        log.AppendLine($"loaded patched copy: {patched}");
        return NativeCompatStatus.Patched;
    }

    static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
        name == LibraryName || name == LibraryFile ? patchedHandle : IntPtr.Zero;

    /// <summary>Where the runtime would look for TorchSharp's native library: the host's probing directories, then the assembly's own folder.</summary>
    internal static string? FindShippedLibrary(Assembly torchAssembly)
    {
        var dirs = new List<string>();
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string probing)
            dirs.AddRange(probing.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        var assemblyDir = Path.GetDirectoryName(torchAssembly.Location);
        if (!string.IsNullOrEmpty(assemblyDir))
        {
            dirs.Add(assemblyDir);
            dirs.Add(Path.Combine(assemblyDir, "runtimes", "linux-x64", "native"));
        }
        dirs.Add(AppContext.BaseDirectory);
        return dirs.Select(d => Path.Combine(d, LibraryFile)).FirstOrDefault(File.Exists);
    }

    /// <summary>Per-user cache: <c>LLAVAMODAL_NATIVE_CACHE</c>, else <c>$XDG_CACHE_HOME/llavamodal/native</c>, else <c>~/.cache/llavamodal/native</c>.</summary>
    internal static string CacheDirectory()
    {
        var explicitDir = Environment.GetEnvironmentVariable("LLAVAMODAL_NATIVE_CACHE");
        if (!string.IsNullOrEmpty(explicitDir)) return explicitDir;
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var root = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "llavamodal", "native");
    }

    /// <summary>
    /// Writes (once) a patched copy of <paramref name="original"/> under <paramref name="cacheRoot"/>, keyed by the
    /// original's content hash so different TorchSharp versions never share a copy. The original is only read.
    /// </summary>
    internal static string WritePatchedCopy(string original, string cacheRoot, System.Text.StringBuilder log)
    {
        var image = File.ReadAllBytes(original);
        var key = Convert.ToHexStringLower(SHA256.HashData(image))[..16];
        var target = Path.Combine(cacheRoot, key, LibraryFile);
        if (File.Exists(target))
        {
            log.AppendLine($"reusing {target}");
            return target;
        }
        var result = ElfCompatPatcher.Patch(image);
        if (!result.Changed)
            throw new InvalidDataException($"{original} does not require {ElfCompatPatcher.MissingVersion}; no compatible copy can help.");
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        // Write then rename, so concurrent processes never load a half-written file.
        var temp = $"{target}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        File.WriteAllBytes(temp, image);
        try { File.Move(temp, target, overwrite: false); }
        catch (IOException) when (File.Exists(target)) { File.Delete(temp); }
        log.AppendLine($"wrote {target} (symbol #{result.SymbolIndex}: version index {result.OldVersionIndex} -> {result.NewVersionIndex})");
        return target;
    }
}
