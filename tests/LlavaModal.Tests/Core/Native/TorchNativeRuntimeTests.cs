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
        var status = TorchNativeRuntime.Apply(log, (_, _) => true, cache.Path);
        Assert.Equal(NativeCompatStatus.NotNeeded, status);
        Assert.Empty(Directory.EnumerateFileSystemEntries(cache.Path));
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
