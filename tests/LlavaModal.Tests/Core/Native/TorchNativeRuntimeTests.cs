using System.Security.Cryptography;
using LlavaModal.Core.Native;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Core.Native;

public class TorchNativeRuntimeTests
{
    static string ShippedLibrary =>
        TorchNativeRuntime.FindShippedLibrary(typeof(TorchSharp.torch).Assembly) ?? throw new InvalidOperationException("libLibTorchSharp.so not found");

    [Fact]
    public void Status_matches_what_the_system_libstdcxx_provides()
    {
        var status = TorchNativeRuntime.EnsureLoadable();
        var has = LibStdCxx.HasVersion(ElfCompatPatcher.MissingSymbol, ElfCompatPatcher.MissingVersion);
        Assert.Equal(has ? NativeCompatStatus.NotNeeded : NativeCompatStatus.Patched, status);
        if (status == NativeCompatStatus.Patched)
        {
            Assert.True(File.Exists(TorchNativeRuntime.PatchedLibraryPath));
            Assert.DoesNotContain(Path.GetDirectoryName(ShippedLibrary)!, TorchNativeRuntime.PatchedLibraryPath!);
        }
    }

    [Fact]
    public void Tensor_operations_work_after_loading()
    {
        TorchNativeRuntime.EnsureLoadable();
        using var a = arange(6, dtype: ScalarType.Float32).reshape(2, 3);
        using var product = a.matmul(a.t());
        Assert.Equal(new float[] { 5, 14, 14, 50 }, product.data<float>().ToArray());
    }

    [Fact]
    public void Nothing_is_written_when_the_system_already_has_the_version()
    {
        using var cache = new TempDir();
        var log = new System.Text.StringBuilder();
        var outcome = TorchNativeRuntime.Apply(log, (_, _) => true, cache.Path, SearchDirectories);
        Assert.Equal(NativeCompatStatus.NotNeeded, outcome.Status);
        Assert.Equal(NativeRuntimeProblem.None, outcome.Problem);
        Assert.Empty(Directory.EnumerateFileSystemEntries(cache.Path));
    }

    static IReadOnlyList<string> SearchDirectories => TorchNativeRuntime.NativeSearchDirectories(typeof(TorchSharp.torch).Assembly);

    [Fact]
    public void The_loaded_runtime_reports_no_problem()
    {
        TorchNativeRuntime.ThrowIfUnavailable();
        Assert.Equal(NativeRuntimeProblem.None, TorchNativeRuntime.Problem);
        Assert.Equal("", TorchNativeRuntime.ProblemMessage);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_missing_runtime_package_is_named_as_such_whatever_libstdcxx_provides(bool systemHasVersion)
    {
        // TorchSharp's glue without libtorch beside it: what an application gets when it references the libraries but no runtime package.
        using var app = new TempDir();
        File.Copy(ShippedLibrary, app.File("libLibTorchSharp.so"));
        using var cache = new TempDir();
        var outcome = TorchNativeRuntime.Apply(new System.Text.StringBuilder(), (_, _) => systemHasVersion, cache.Path, [app.Path], loadableByName: _ => false);
        Assert.Equal(NativeCompatStatus.Failed, outcome.Status);
        Assert.Equal(NativeRuntimeProblem.RuntimeMissing, outcome.Problem);
        Assert.Contains("libtorch (libtorch_cpu.so)", outcome.Message);
        Assert.Contains("dotnet add package LlavaModal.Runtime.Cpu", outcome.Message);
        Assert.DoesNotContain("GLIBCXX", outcome.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(cache.Path));

        using var empty = new TempDir();
        var none = TorchNativeRuntime.Apply(new System.Text.StringBuilder(), (_, _) => systemHasVersion, cache.Path, [empty.Path], loadableByName: _ => false);
        Assert.Equal(NativeRuntimeProblem.RuntimeMissing, none.Problem);
        Assert.Contains("libLibTorchSharp.so", none.Message);
    }

    [Fact]
    public void A_libtorch_the_dynamic_loader_finds_by_name_counts_as_deployed()
    {
        using var app = new TempDir();
        File.Copy(ShippedLibrary, app.File("libLibTorchSharp.so"));
        using var cache = new TempDir();
        var outcome = TorchNativeRuntime.Apply(new System.Text.StringBuilder(), (_, _) => true, cache.Path, [app.Path], loadableByName: name => name == "libtorch_cpu.so");
        Assert.Equal(NativeCompatStatus.NotNeeded, outcome.Status);
    }

    [Fact]
    public void An_unwritable_cache_is_named_with_the_variable_that_moves_it()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("not-a-folder"), "");
        var cacheRoot = Path.Combine(dir.File("not-a-folder"), "native");   // under a regular file: no one, root included, can create it
        var outcome = TorchNativeRuntime.Apply(new System.Text.StringBuilder(), (_, _) => false, cacheRoot, SearchDirectories);
        Assert.Equal(NativeCompatStatus.Failed, outcome.Status);
        Assert.Equal(NativeRuntimeProblem.CacheUnwritable, outcome.Problem);
        Assert.Contains(cacheRoot, outcome.Message);
        Assert.Contains("LLAVAMODAL_NATIVE_CACHE", outcome.Message);
        Assert.Contains("GLIBCXX_3.4.32", outcome.Message);
    }

    [Fact]
    public void An_old_libstdcxx_with_the_fix_disabled_is_named_and_nothing_is_written()
    {
        using var cache = new TempDir();
        var outcome = TorchNativeRuntime.Apply(new System.Text.StringBuilder(), (_, _) => false, cache.Path, SearchDirectories, disabled: true);
        Assert.Equal(NativeRuntimeProblem.LibStdCxxTooOld, outcome.Problem);
        Assert.Contains("GLIBCXX_3.4.32", outcome.Message);
        Assert.Contains("LLAVAMODAL_NATIVE_COMPAT=0", outcome.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(cache.Path));

        // Disabling changes nothing where the system already has the version.
        Assert.Equal(NativeCompatStatus.NotNeeded, TorchNativeRuntime.Apply(new System.Text.StringBuilder(), (_, _) => true, cache.Path, SearchDirectories, disabled: true).Status);
    }

    [Fact]
    public void Patch_makes_the_requirement_weak_renames_the_symbol_and_leaves_the_original_untouched()
    {
        var path = ShippedLibrary;
        var before = SHA256.HashData(File.ReadAllBytes(path));
        var image = File.ReadAllBytes(path);
        var original = (byte[])image.Clone();

        var result = ElfCompatPatcher.Patch(image);

        Assert.True(result.Changed);
        Assert.True(result.SymbolIndex > 0);
        Assert.NotEqual(result.OldVersionIndex, result.NewVersionIndex);
        var changed = Enumerable.Range(0, image.Length).Count(i => image[i] != original[i]);
        // flags (1 byte) + name (up to 28 bytes) + version index (1-2 bytes): a surgical edit, nothing else.
        Assert.InRange(changed, 3, 32);
        // The dynamic string table loses one occurrence (the static .strtab may keep its own copy).
        int Count(byte[] bytes, string s) => System.Text.RegularExpressions.Regex.Matches(System.Text.Encoding.Latin1.GetString(bytes), s + "\0").Count;
        Assert.Equal(Count(original, ElfCompatPatcher.MissingSymbol) - 1, Count(image, ElfCompatPatcher.MissingSymbol));
        Assert.Equal(Count(original, ElfCompatPatcher.ReplacementSymbol) + 1, Count(image, ElfCompatPatcher.ReplacementSymbol));
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(path)));
    }

    [Fact]
    public void Patched_copy_is_written_once_per_original_content()
    {
        using var cache = new TempDir();
        var log = new System.Text.StringBuilder();
        var first = TorchNativeRuntime.WritePatchedCopy(ShippedLibrary, cache.Path, log);
        var stamp = File.GetLastWriteTimeUtc(first);
        var second = TorchNativeRuntime.WritePatchedCopy(ShippedLibrary, cache.Path, log);
        Assert.Equal(first, second);
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(second));
        Assert.Single(Directory.GetFiles(cache.Path, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public void Non_elf_input_is_refused()
    {
        Assert.Throws<InvalidDataException>(() => ElfCompatPatcher.Patch(new byte[100]));
    }
}
