using System.IO.Compression;
using System.Text.Json.Nodes;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tests.Support;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Encoders.Vision;

/// <summary>
/// Issue 15, 3, 5 and 7, for images: a 1x20000 PNG (80 KB) became a 20000x20000 padded square (1.2 GB) and 1x30000 threw
/// <see cref="OverflowException"/>; a PNG whose chunks are whole but whose data holds 100 of 8000 rows decoded with the
/// rest blank; NaN <c>pixel_values</c> were accepted; absurd normalisation settings produced NaN everywhere; a crop size
/// different from the tower's, or a missing <c>preprocessor_config.json</c>, loaded and failed at the first image
/// without naming the config.
/// </summary>
public class HostileImageTests
{
    static byte[] Png(int width, int height)
    {
        using var image = new Image<Rgb24>(width, height);
        using var s = new MemoryStream();
        image.SaveAsPng(s);
        return s.ToArray();
    }

    [Theory]
    [InlineData(1, 20000)]
    [InlineData(30000, 1)]
    public void A_strip_is_refused_before_it_is_padded_to_a_huge_square(int width, int height)
    {
        var image = new ImageLoader().Load(Png(width, height), "strip.png");
        var processor = new ClipImageProcessor(new ImageProcessorConfig { ShortestEdge = 336, CropHeight = 336, CropWidth = 336 });
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidImageException>(() => processor.Preprocess(image, "strip.png"));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 10_000_000, "the square was allocated");
        Assert.StartsWith("strip.png: padding", e.Message);
        Assert.Contains("MaxPixels", e.Message);
        // Without padding the strip is resized instead, and refused for the same reason.
        Assert.Throws<InvalidImageException>(() => new ClipImageProcessor(processor.Config, padToSquare: false).Preprocess(image, "strip.png"));
    }

    [Fact]
    public void A_png_whose_data_stops_after_a_few_rows_is_refused()
    {
        const int width = 800, height = 800;
        using var s = new MemoryStream();
        s.Write(PngChunks.Signature);
        PngChunks.Write(s, "IHDR", PngChunks.RgbHeader(width, height));
        using (var raw = new MemoryStream())
        {
            using (var z = new ZLibStream(raw, CompressionLevel.Fastest, leaveOpen: true)) z.Write(new byte[10 * (1 + width * 3)]); // 10 rows of 800
            PngChunks.Write(s, "IDAT", raw.ToArray());
        }
        PngChunks.Write(s, "IEND", []);
        var e = Assert.Throws<InvalidImageException>(() => new ImageLoader().Load(s.ToArray(), "cut.png"));
        Assert.Contains("truncated PNG", e.Message);
        // The same image with all its rows decodes.
        Assert.Equal(800, new ImageLoader().Load(Png(800, 800)).Width);
    }

    [Fact]
    public void A_jpeg_whose_scan_data_is_cut_before_its_end_marker_is_refused()
    {
        var bytes = File.ReadAllBytes(Path.Combine(Fixtures.Images, "portrait_200x300.jpg"));
        int sos = bytes.AsSpan().IndexOf(new byte[] { 0xFF, 0xDA });
        int cut = sos + (bytes.Length - sos) * 2 / 5;
        byte[] cutWithEnd = [.. bytes[..cut], 0xFF, 0xD9];
        Assert.Throws<InvalidImageException>(() => new ImageLoader().Load(cutWithEnd, "cut.jpg"));
    }

    [Fact]
    public void Pixel_values_that_hold_NaN_or_integers_are_refused_naming_the_input()
    {
        using var model = MultimodalModel.Load(Fixtures.LlavaTinyA);
        using var dir = new TempDir();
        using var nan = full(1, 3, 336, 336, float.NaN);
        SafeTensorsWriter.Write(dir.File("nan.safetensors"), [new("pixel_values", nan)]);
        var e = Assert.ThrowsAny<LlavaModalException>(() => model.Generate(new MultimodalPrompt("USER: <image>\nWhat? ASSISTANT:", [ModalityInput.FromFile(dir.File("nan.safetensors"), "image")])));
        Assert.Contains("NaN", e.Message);
        Assert.Contains("nan.safetensors", e.Message);

        using var ints = zeros(new long[] { 1, 3, 336, 336 }, ScalarType.Int32);
        SafeTensorsWriter.Write(dir.File("int.safetensors"), [new("pixel_values", ints)]);
        Assert.Contains("I32", Assert.ThrowsAny<LlavaModalException>(() => model.Generate(new MultimodalPrompt("USER: <image>\nWhat? ASSISTANT:", [ModalityInput.FromFile(dir.File("int.safetensors"), "image")]))).Message);
    }

    [Theory]
    [InlineData("rescale_factor", "1e300")]
    [InlineData("image_mean", "[1e30, 0.5, 0.5]")]
    [InlineData("image_std", "[1e-30, 0.5, 0.5]")]
    public void Normalisation_settings_that_would_make_NaN_are_refused_naming_the_key(string key, string value)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("preprocessor_config.json"), $"{{\"{key}\": {value}}}");
        Assert.Equal(key, Assert.Throws<ConfigException>(() => ImageProcessorConfig.Load(dir.File("preprocessor_config.json"))).Key);
    }

    static TempDir LlavaCopy()
    {
        var dir = new TempDir();
        foreach (var file in Directory.GetFiles(Fixtures.LlavaTinyA)) File.Copy(file, dir.File(Path.GetFileName(file)));
        return dir;
    }

    [Fact]
    public void A_crop_size_other_than_the_towers_image_size_is_refused_at_load_naming_the_file()
    {
        using var dir = LlavaCopy();
        var config = JsonNode.Parse(File.ReadAllText(dir.File("preprocessor_config.json")))!.AsObject();
        config["crop_size"] = new JsonObject { ["height"] = 224, ["width"] = 224 };
        File.WriteAllText(dir.File("preprocessor_config.json"), config.ToJsonString());
        var e = Assert.Throws<ConfigException>(() => MultimodalModel.Load(dir.Path).Dispose());
        Assert.Equal("crop_size", e.Key);
        Assert.EndsWith("preprocessor_config.json", e.Path);
        Assert.Contains("336x336", e.Message);
    }

    [Fact]
    public void A_missing_preprocessor_config_whose_defaults_do_not_fit_the_tower_is_named_at_load()
    {
        using var dir = LlavaCopy();
        File.Delete(dir.File("preprocessor_config.json"));
        var e = Assert.Throws<ConfigException>(() => MultimodalModel.Load(dir.Path).Dispose());
        Assert.Contains("is missing", e.Message);
        Assert.EndsWith("preprocessor_config.json", e.Path);
    }
}
