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
    /// <summary>TorchSharp cannot load here: <see cref="TorchNativeRuntime.Problem"/> says why, <see cref="TorchNativeRuntime.Diagnostics"/> what was checked.</summary>
    Failed,
}

/// <summary>Why TorchSharp's native libraries cannot load, as far as <see cref="TorchNativeRuntime.EnsureLoadable"/> can tell.</summary>
public enum NativeRuntimeProblem
{
    /// <summary>No problem found.</summary>
    None,
    /// <summary>
    /// The native libtorch build is not part of the application: no runtime package (<c>LlavaModal.Runtime.Cpu</c>,
    /// <c>libtorch-cpu-linux-x64</c> or <c>TorchSharp-cuda-linux</c>) is referenced, or its files were not deployed.
    /// </summary>
    RuntimeMissing,
    /// <summary>
    /// The system libstdc++ lacks <c>GLIBCXX_3.4.32</c> and the compatible copy could not be made or loaded (or the fix is
    /// disabled with <c>LLAVAMODAL_NATIVE_COMPAT=0</c>).
    /// </summary>
    LibStdCxxTooOld,
    /// <summary>The compatible copy was needed but the cache folder it goes to cannot be written.</summary>
    CacheUnwritable,
}

/// <summary>
/// TorchSharp's native libraries cannot load in this process; the message says which of <see cref="NativeRuntimeProblem"/>
/// it is and what to do about it (instead of TorchSharp's generic "doesn't contain a reference to libtorch" message).
/// </summary>
public sealed class NativeRuntimeException : LlavaModal.Abstractions.LlavaModalException
{
    /// <summary>Creates the exception.</summary>
    public NativeRuntimeException(NativeRuntimeProblem problem, string message) : base(message) => Problem = problem;

    /// <summary>What is wrong.</summary>
    public NativeRuntimeProblem Problem { get; }
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
    const string TorchCpuFile = "libtorch_cpu.so";
    static readonly string[] Dependencies = ["libc10.so", "libtorch_cpu.so", "libc10_cuda.so", "libtorch_cuda.so", "libtorch.so"];

    static readonly object Gate = new();
    static IntPtr patchedHandle;

    /// <summary>The outcome of the check on this process.</summary>
    public static NativeCompatStatus Status { get; private set; } = NativeCompatStatus.NotChecked;

    /// <summary>A human-readable account of what was checked and done (for troubleshooting).</summary>
    public static string Diagnostics { get; private set; } = "";

    /// <summary>Path of the patched copy in use, when <see cref="Status"/> is <see cref="NativeCompatStatus.Patched"/>.</summary>
    public static string? PatchedLibraryPath { get; private set; }

    /// <summary>Why TorchSharp cannot load, when <see cref="Status"/> is <see cref="NativeCompatStatus.Failed"/>.</summary>
    public static NativeRuntimeProblem Problem { get; private set; }

    /// <summary>What to tell the user about <see cref="Problem"/> (empty when there is none).</summary>
    public static string ProblemMessage { get; private set; } = "";

    /// <summary>
    /// Runs <see cref="EnsureLoadable"/> and throws when TorchSharp's native libraries cannot load, naming the cause
    /// (missing runtime package, too old a libstdc++, unwritable cache) and the fix. Model loading calls it first.
    /// </summary>
    /// <exception cref="NativeRuntimeException">The native runtime cannot load in this process.</exception>
    public static void ThrowIfUnavailable()
    {
        if (EnsureLoadable() == NativeCompatStatus.Failed && Problem != NativeRuntimeProblem.None)
            throw new NativeRuntimeException(Problem, ProblemMessage);
    }

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
            NativeEnvironment.SetDefaults();
            var log = new System.Text.StringBuilder();
            try
            {
                var outcome = Apply(log, LibStdCxx.HasVersion, CacheDirectory(), NativeSearchDirectories(typeof(TorchSharp.torch).Assembly),
                    Environment.GetEnvironmentVariable("LLAVAMODAL_NATIVE_COMPAT") == "0");
                (Status, Problem, ProblemMessage) = outcome;
                if (outcome.Problem != NativeRuntimeProblem.None) log.AppendLine($"problem: {outcome.Problem}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
            {
                // Runs from module initialisers: never throw here; TorchSharp then reports what it finds.
                log.AppendLine($"failed: {e.GetType().Name}: {e.Message}");
                Status = NativeCompatStatus.Failed;
            }
            Diagnostics = log.ToString();
            return Status;
        }
    }

    /// <summary>What <see cref="Apply"/> found: the status, and for a failure its cause and the message for the user.</summary>
    internal sealed record Outcome(NativeCompatStatus Status, NativeRuntimeProblem Problem = NativeRuntimeProblem.None, string Message = "");

    /// <summary>
    /// The check, with the machine's facts passed in (so each failure can be tested): first that the native runtime is
    /// deployed at all, then whether libstdc++ needs the compatible copy, then writing and loading that copy.
    /// </summary>
    internal static Outcome Apply(System.Text.StringBuilder log, Func<string, string, bool> systemHasVersion, string cacheRoot,
        IReadOnlyList<string> searchDirectories, bool disabled = false, Func<string, bool>? loadableByName = null)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            log.AppendLine("not Linux x64: nothing to do");
            return new(NativeCompatStatus.NotApplicable);
        }

        // Checked before anything else: without libtorch no copy can load, and TorchSharp's own message for it
        // ("doesn't contain a reference to libtorch-cpu-linux-x64 ... TorchSharp-cpu") names packages a LlavaModal user should not add.
        var original = Find(searchDirectories, LibraryFile);
        var libtorch = Find(searchDirectories, TorchCpuFile);
        if (original is null || (libtorch is null && !(loadableByName ?? (name => NativeLibrary.TryLoad(name, out _)))(TorchCpuFile)))
        {
            var missing = original is null ? $"TorchSharp's native library ({LibraryFile})" : $"libtorch ({TorchCpuFile})";
            log.AppendLine($"{missing} not found in: {string.Join(", ", searchDirectories)}");
            return new(NativeCompatStatus.Failed, NativeRuntimeProblem.RuntimeMissing,
                $"The native libtorch runtime is missing: {missing} is not part of this application. Add the runtime package to the " +
                "application project: `dotnet add package LlavaModal.Runtime.Cpu` (Linux x64 CPUs), or TorchSharp-cuda-linux for NVIDIA GPUs " +
                "(see \"Install\" and \"Building for CUDA\" in LlavaModal's README). Libraries reference TorchSharp only; the application picks the runtime.");
        }
        log.AppendLine($"shipped library: {original}");
        log.AppendLine($"libtorch: {libtorch ?? "found by the dynamic loader"}");

        if (systemHasVersion(ElfCompatPatcher.MissingSymbol, ElfCompatPatcher.MissingVersion))
        {
            log.AppendLine($"system libstdc++ provides {ElfCompatPatcher.MissingVersion}: nothing to do");
            return new(NativeCompatStatus.NotNeeded);
        }
        log.AppendLine($"system libstdc++ lacks {ElfCompatPatcher.MissingVersion}");
        if (disabled)
        {
            log.AppendLine("the compatible copy is disabled by LLAVAMODAL_NATIVE_COMPAT=0");
            return new(NativeCompatStatus.Failed, NativeRuntimeProblem.LibStdCxxTooOld,
                $"The system libstdc++.so.6 lacks {ElfCompatPatcher.MissingVersion}, which TorchSharp's {LibraryFile} asks for, and LLAVAMODAL_NATIVE_COMPAT=0 " +
                "turns off the compatible copy LlavaModal would load instead. Unset LLAVAMODAL_NATIVE_COMPAT, or install a libstdc++ from GCC 13 or newer.");
        }

        string patched;
        try
        {
            patched = WritePatchedCopy(original, cacheRoot, log);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.AppendLine($"cannot write the cache: {e.GetType().Name}: {e.Message}");
            return new(NativeCompatStatus.Failed, NativeRuntimeProblem.CacheUnwritable,
                $"The system libstdc++.so.6 lacks {ElfCompatPatcher.MissingVersion}, so LlavaModal loads a compatible copy of TorchSharp's {LibraryFile}, " +
                $"but it cannot write that copy to its cache folder '{cacheRoot}' ({e.Message}). Point LLAVAMODAL_NATIVE_CACHE (or XDG_CACHE_HOME) " +
                "at a writable folder, or install a libstdc++ from GCC 13 or newer.");
        }
        catch (InvalidDataException e)
        {
            log.AppendLine($"cannot patch {original}: {e.Message}");
            return TooOld(original, $"its copy cannot be made ({e.Message})");
        }

        // Loaded first, by full path, so the copy's DT_NEEDED entries resolve although it lives outside the package folder.
        var folder = Path.GetDirectoryName(libtorch ?? original)!;
        foreach (var dependency in Dependencies)
        {
            var path = Path.Combine(folder, dependency);
            if (File.Exists(path) && !NativeLibrary.TryLoad(path, out _))
                log.AppendLine($"could not preload {path}");
        }
        try
        {
            patchedHandle = NativeLibrary.Load(patched);
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            log.AppendLine($"cannot load {patched}: {e.Message}");
            return TooOld(original, $"even the compatible copy {patched} does not load ({e.Message})");
        }
        PatchedLibraryPath = patched;
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(TorchSharp.torch).Assembly, Resolve);
        }
        catch (InvalidOperationException)
        {
            // The application installed its own resolver for TorchSharp; the copy is already loaded by
            // soname, so a resolver that asks for "LibTorchSharp" by name still gets it.
            log.AppendLine("TorchSharp already has a DllImportResolver; relying on the loaded soname");
        }
        log.AppendLine($"loaded patched copy: {patched}");
        return new(NativeCompatStatus.Patched);
    }

    static Outcome TooOld(string original, string what) =>
        new(NativeCompatStatus.Failed, NativeRuntimeProblem.LibStdCxxTooOld,
            $"The system libstdc++.so.6 lacks {ElfCompatPatcher.MissingVersion}, which TorchSharp's {original} asks for, and {what}. " +
            "Install a libstdc++ from GCC 13 or newer (Debian 13, Ubuntu 24.04), or report this with TorchNativeRuntime.Diagnostics.");

    static string? Find(IEnumerable<string> directories, string file) =>
        directories.Select(d => Path.Combine(d, file)).FirstOrDefault(File.Exists);

    static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
        name == LibraryName || name == LibraryFile ? patchedHandle : IntPtr.Zero;

    /// <summary>Where the runtime would look for TorchSharp's native library: the host's probing directories, then the assembly's own folder.</summary>
    internal static string? FindShippedLibrary(Assembly torchAssembly) => Find(NativeSearchDirectories(torchAssembly), LibraryFile);

    /// <summary>The host's native probing directories (deps.json), then TorchSharp's own folder and the application's.</summary>
    internal static IReadOnlyList<string> NativeSearchDirectories(Assembly torchAssembly)
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
        return dirs;
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
