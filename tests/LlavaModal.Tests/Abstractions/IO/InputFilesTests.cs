using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.IO;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Encoders.Audio;
using LlavaModal.Encoders.Audio.Reading;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Tests.Support;
using LlavaModal.Tokenizers;

namespace LlavaModal.Tests.Abstractions.IO;

/// <summary>
/// Issue 15, 3: a FIFO as <c>model.safetensors</c>, <c>config.json</c>, an image or a clip hung forever; <c>/dev/zero</c>
/// as an image or config allocated until <see cref="OutOfMemoryException"/>; a 1.5 GB file given as an image was read
/// whole before the 256 MB limit applied. Every reader now refuses non-regular files before opening them and checks the
/// size before reading.
/// </summary>
public class InputFilesTests
{
    [Fact]
    public void A_fifo_is_refused_by_every_reader_without_blocking()
    {
        using var dir = new TempDir();
        var fifo = dir.File("model.safetensors");
        SpecialFiles.Fifo(fifo);
        Assert.Contains("FIFO", SpecialFiles.Within(5, () => Assert.Throws<CheckpointException>(() => SafeTensorsFile.Open(fifo)).Message));
        Assert.Contains("FIFO", SpecialFiles.Within(5, () => Assert.Throws<ConfigException>(() => JsonConfig.Load(fifo)).Message));
        Assert.Contains("FIFO", SpecialFiles.Within(5, () => Assert.Throws<InvalidImageException>(() => new ImageLoader().LoadFile(fifo)).Message));
        Assert.Contains("FIFO", SpecialFiles.Within(5, () => Assert.Throws<InvalidAudioException>(() => new AudioReader().ReadFile(fifo)).Message));
        Assert.Contains("FIFO", SpecialFiles.Within(5, () => Assert.ThrowsAny<LlavaModalException>(() => ModalityInput.FromFile(fifo, "image")).Message));

        using var model = new TempDir();
        foreach (var file in Directory.GetFiles(Fixtures.LlamaTiny)) File.Copy(file, model.File(Path.GetFileName(file)));
        File.Delete(model.File("tokenizer_config.json"));
        SpecialFiles.Fifo(model.File("tokenizer_config.json"));
        Assert.Contains("FIFO", SpecialFiles.Within(5, () => Assert.Throws<InvalidDataException>(() => HfTokenizer.FromPretrained(model.Path)).Message));
    }

    [Fact]
    public void Dev_zero_is_refused_as_an_image_a_config_and_a_clip_without_reading_it()
    {
        Assert.Contains("device", SpecialFiles.Within(5, () => Assert.Throws<InvalidImageException>(() => new ImageLoader().LoadFile("/dev/zero")).Message));
        Assert.Contains("device", SpecialFiles.Within(5, () => Assert.Throws<ConfigException>(() => JsonConfig.Load("/dev/zero")).Message));
        Assert.Contains("device", SpecialFiles.Within(5, () => Assert.Throws<InvalidAudioException>(() => new AudioReader().ReadFile("/dev/zero")).Message));
        Assert.Contains("device", SpecialFiles.Within(5, () => Assert.ThrowsAny<LlavaModalException>(() => ModalityInput.FromFile("/dev/zero")).Message));
    }

    [Fact]
    public void A_huge_file_is_refused_from_its_size_before_a_byte_is_read()
    {
        using var dir = new TempDir();
        var path = dir.File("huge.png");
        SpecialFiles.Sparse(path, 1_500_000_000, [0x89, (byte)'P', (byte)'N', (byte)'G']);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidImageException>(() => new ImageLoader().LoadFile(path));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 10_000_000, "the file was read");
        Assert.Contains("MaxEncodedBytes", e.Message);
        Assert.Contains("maxBytes", Assert.ThrowsAny<LlavaModalException>(() => ModalityInput.FromFile(path, "image")).Message);
        Assert.Contains("MaxFileBytes", Assert.Throws<ConfigException>(() => JsonConfig.Load(path)).Message);
    }

    [Fact]
    public void Refusal_names_missing_files_folders_and_sizes()
    {
        using var dir = new TempDir();
        Assert.Equal("file not found.", InputFiles.Refusal(dir.File("none"), 10, "X"));
        Assert.Contains("folder", InputFiles.Refusal(dir.Path, 10, "X"));
        File.WriteAllBytes(dir.File("a"), new byte[11]);
        Assert.Contains("over the limit of 10 bytes (X)", InputFiles.Refusal(dir.File("a"), 10, "X"));
        Assert.Null(InputFiles.Refusal(dir.File("a"), 11, "X"));
    }
}
