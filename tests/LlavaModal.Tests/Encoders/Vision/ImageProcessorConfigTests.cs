using LlavaModal.Abstractions;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.Encoders.Vision;

public class ImageProcessorConfigTests
{
    static ConfigException LoadFails(string json, out string path, TempDir dir)
    {
        path = dir.File(ImageProcessorConfig.FileName);
        File.WriteAllText(path, json);
        var p = path;
        return Assert.Throws<ConfigException>(() => ImageProcessorConfig.Load(p));
    }

    [Fact]
    public void Fixture_config_is_read()
    {
        var c = ImageProcessorConfig.Load(PreprocessFixtures.ConfigPath);
        Assert.True(c.DoResize && c.DoCenterCrop && c.DoRescale && c.DoNormalize && c.DoConvertRgb);
        Assert.Equal(336, c.ShortestEdge);
        Assert.Null(c.ResizeHeight);
        Assert.Equal(ResampleFilter.Bicubic, c.Resample);
        Assert.Equal((336, 336), (c.CropHeight, c.CropWidth));
        Assert.Equal(0.00392156862745098, c.RescaleFactor);
        Assert.Equal(new[] { 0.48145466, 0.4578275, 0.40821073 }, c.ImageMean);
        Assert.Equal(new[] { 0.26862954, 0.26130258, 0.27577711 }, c.ImageStd);
    }

    [Fact]
    public void Missing_file_gives_the_clip_defaults()
    {
        using var dir = new TempDir();
        var c = ImageProcessorConfig.LoadFromDirectory(dir.Path);
        Assert.Equivalent(new ImageProcessorConfig(), c, strict: true);
        Assert.Equal(new[] { 0.48145466, 0.4578275, 0.40821073 }, c.ImageMean);
        Assert.Equal(224, c.ShortestEdge);
        Assert.Equal((224, 224), (c.CropHeight, c.CropWidth));
        Assert.Equal(1.0 / 255, c.RescaleFactor);
        Assert.Throws<ConfigException>(() => ImageProcessorConfig.Load(dir.File("absent.json")));
    }

    [Fact]
    public void Alternative_size_forms_are_understood()
    {
        using var dir = new TempDir();
        var path = dir.File(ImageProcessorConfig.FileName);
        File.WriteAllText(path, """{"size": {"height": 30, "width": 40}, "crop_size": 20, "image_mean": 0.5, "resample": 2}""");
        var c = ImageProcessorConfig.Load(path);
        Assert.Null(c.ShortestEdge);
        Assert.Equal((30, 40), (c.ResizeHeight, c.ResizeWidth));
        Assert.Equal((20, 20), (c.CropHeight, c.CropWidth));
        Assert.Equal(new[] { 0.5, 0.5, 0.5 }, c.ImageMean);
        Assert.Equal(ResampleFilter.Bilinear, c.Resample);

        File.WriteAllText(path, """{"size": 288}""");
        Assert.Equal(288, ImageProcessorConfig.Load(path).ShortestEdge);
    }

    [Theory]
    [InlineData("""{"resample": 1}""", "resample")]
    [InlineData("""{"resample": "bicubic"}""", "resample")]
    [InlineData("""{"do_resize": "yes"}""", "do_resize")]
    [InlineData("""{"image_mean": [0.5, 0.5]}""", "image_mean")]
    [InlineData("""{"image_std": [0.5, 0, 0.5]}""", "image_std")]
    [InlineData("""{"size": {"shortest_edge": -4}}""", "size.shortest_edge")]
    [InlineData("""{"size": {"longest_edge": 1024}}""", "size.longest_edge")]
    [InlineData("""{"size": {"height": 30}}""", "size")]
    [InlineData("""{"crop_size": "336"}""", "crop_size")]
    [InlineData("""{"rescale_factor": null, "crop_size": {"height": 1.5, "width": 2}}""", "crop_size.height")]
    [InlineData("""{"do_resize": true,""", "(file)")]
    public void Malformed_values_name_the_file_and_key(string json, string key)
    {
        using var dir = new TempDir();
        var e = LoadFails(json, out var path, dir);
        Assert.Equal(key, e.Key);
        Assert.Equal(path, e.Path);
        Assert.Contains(path, e.Message);
        Assert.Contains(key, e.Message);
    }
}
