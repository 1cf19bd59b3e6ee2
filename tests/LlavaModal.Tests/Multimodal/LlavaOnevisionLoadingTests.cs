using System.Text.Json.Nodes;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Encoders.Vision.LlavaOnevision;
using LlavaModal.Encoders.Vision.Video;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tests.Encoders.Vision.LlavaOnevision;
using LlavaModal.Tests.Support;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace LlavaModal.Tests.Multimodal;

/// <summary>Configs and media a LLaVA-OneVision folder refuses, each with a typed error naming the file, key or input.</summary>
public class LlavaOnevisionLoadingTests
{
    /// <summary>A copy of llava-onevision-tiny (checkpoint and processor files) with <paramref name="edit"/> applied to one JSON file.</summary>
    static string Copy(TempDir dir, string? file = null, Action<JsonObject>? edit = null)
    {
        foreach (var f in Directory.GetFiles(OnevisionReference.Directory, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(OnevisionReference.Directory, f);
            if (relative.StartsWith("expected", StringComparison.Ordinal) || relative.StartsWith("images", StringComparison.Ordinal)) continue;
            Directory.CreateDirectory(Path.GetDirectoryName(dir.File(relative))!);
            File.Copy(f, dir.File(relative));
            File.SetAttributes(dir.File(relative), FileAttributes.Normal);
        }
        if (file is not null)
        {
            var json = JsonNode.Parse(File.ReadAllText(dir.File(file)))!.AsObject();
            edit!(json);
            File.WriteAllText(dir.File(file), json.ToJsonString());
        }
        return dir.Path;
    }

    static ConfigException LoadFails(string path) => Assert.Throws<ConfigException>(() => MultimodalModel.Load(path, [new LlavaVisionFactory()]));

    [Fact]
    public void The_default_plugins_load_both_modalities_and_the_image_factory_alone_gives_the_image_binding()
    {
        using (var model = MultimodalModel.Load(OnevisionReference.Directory))
            Assert.Equal(["image", "video"], model.Modalities.Select(m => m.Modality));
        using var dir = new TempDir();
        var path = Copy(dir);
        using var folder = LlavaModal.Multimodal.Loading.ModelFolder.Open(path);
        var context = new ModalityLoadContext(path, folder.Config, folder.Weights, 64, new ModelLoadOptions().BuildContext(TorchSharp.torch.ScalarType.Float32),
            LlavaModal.Multimodal.Loading.BuiltInArchitectures.Catalog, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        using var image = new LlavaVisionFactory().TryLoad(context);
        Assert.IsType<OnevisionImageBinding>(image);
    }

    [Theory]
    [InlineData("anyres")]
    [InlineData("anyres_max_0")]
    [InlineData("square")]
    public void An_aspect_ratio_mode_other_than_anyres_max_n_is_named(string value)
    {
        using var dir = new TempDir();
        var e = LoadFails(Copy(dir, "config.json", c => c["vision_aspect_ratio"] = value));
        Assert.Equal("vision_aspect_ratio", e.Key);
        Assert.Contains(value, e.Message);
    }

    [Fact]
    public void The_default_strategy_is_refused_because_it_drops_a_patch_of_the_map()
    {
        using var dir = new TempDir();
        var e = LoadFails(Copy(dir, "config.json", c => c["vision_feature_select_strategy"] = "default"));
        Assert.Equal("vision_feature_select_strategy", e.Key);
    }

    [Fact]
    public void Pinpoints_of_the_processor_and_the_model_must_agree()
    {
        using var dir = new TempDir();
        var e = LoadFails(Copy(dir, "preprocessor_config.json", c => c["image_grid_pinpoints"] = new JsonArray(new JsonArray(32, 32))));
        Assert.Equal("image_grid_pinpoints", e.Key);
        Assert.EndsWith("preprocessor_config.json", e.Path);
    }

    [Fact]
    public void A_video_processor_size_other_than_the_towers_names_its_file()
    {
        using var dir = new TempDir();
        var file = Path.Combine("video_processor", "preprocessor_config.json");
        var e = LoadFails(Copy(dir, file, c => c["size"] = new JsonObject { ["height"] = 48, ["width"] = 48 }));
        Assert.Equal("size", e.Key);
        Assert.EndsWith(file, e.Path);
        Assert.Contains("48x48", e.Message);
        Assert.Contains("32x32", e.Message);
    }

    [Fact]
    public void Without_a_video_processor_file_the_image_processors_settings_serve_the_frames()
    {
        using var dir = new TempDir();
        var path = Copy(dir);
        Directory.Delete(Path.Combine(path, "video_processor"), true);
        using var model = MultimodalModel.Load(path, [new LlavaVisionFactory()]);
        var video = Assert.IsType<OnevisionVideoEncoder>(model.Modalities.Single(m => m.Modality == "video").Encoder);
        Assert.Equal((32, 32, 0.5), (video.FrameProcessor.Config.ResizeWidth!.Value, video.FrameProcessor.Config.ResizeHeight!.Value, video.FrameProcessor.Config.ImageMean[0]));
    }

    [Fact]
    public void A_processor_token_count_other_than_the_towers_is_named()
    {
        using var dir = new TempDir();
        var e = LoadFails(Copy(dir, "processor_config.json", c => c["num_image_tokens"] = 25));
        Assert.Equal("num_image_tokens", e.Key);
        Assert.EndsWith("processor_config.json", e.Path);
    }

    [Fact]
    public void A_tile_size_other_than_the_towers_is_named()
    {
        using var dir = new TempDir();
        var e = LoadFails(Copy(dir, "preprocessor_config.json", c => c["size"] = new JsonObject { ["height"] = 64, ["width"] = 64 }));
        Assert.Equal("size", e.Key);
        Assert.EndsWith("preprocessor_config.json", e.Path);
    }

    [Fact]
    public void A_placeholder_id_other_than_the_tokenizers_is_named()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<CheckpointException>(() => MultimodalModel.Load(Copy(dir, "config.json", c => c["video_token_index"] = 400), [new LlavaVisionFactory()]));
        Assert.Contains("<video>", e.Message);
        Assert.Contains("400", e.Message);
    }

    [Fact]
    public void Too_many_frames_are_refused_before_any_is_encoded_naming_the_limit()
    {
        using var frames = new TempDir();
        OnevisionReference.WriteVideoFrames(frames.Path);
        using var model = MultimodalModel.Load(OnevisionReference.Directory, [new LlavaVisionFactory(new LlavaVisionOptions { Video = new VideoOptions { MaxFrames = 4 } })]);
        var prompt = new MultimodalPrompt("USER: <video>\nWhat happens? ASSISTANT:", [ModalityInput.FromFolder(frames.Path)]);
        var e = Assert.Throws<InputLimitException>(() => model.Layout(prompt));
        Assert.Equal((4, 8), (e.Maximum, e.Actual));
        Assert.Contains("MaxFrames", e.Message);
        // Sampled to the limit, the same video is accepted: 4 frames of 2x2 pooled tokens and one newline.
        var sampled = model.Layout(prompt with { Inputs = [ModalityInput.FromFolder(frames.Path, sample: 4)] });
        Assert.Equal(4 * 4 + 1, Assert.Single(sampled.Inputs).Tokens);
    }

    [Fact]
    public void Frames_of_different_sizes_are_refused_naming_the_frame()
    {
        using var frames = new TempDir();
        OnevisionReference.WriteVideoFrames(frames.Path);
        using (var odd = new Image<Rgb24>(40, 30)) odd.SaveAsPng(frames.File("frame5.png"));
        using var model = MultimodalModel.Load(OnevisionReference.Directory, [new LlavaVisionFactory()]);
        var e = Assert.Throws<LlavaModalException>(() => model.Layout(new MultimodalPrompt("USER: <video>\nWhat happens? ASSISTANT:", [ModalityInput.FromFolder(frames.Path)])));
        Assert.Contains("frame5.png", e.Message);
        Assert.Contains("40x30", e.Message);
        Assert.Contains("64x48", e.Message);
    }

    [Fact]
    public void An_encoded_video_file_is_routed_to_the_video_plugin_and_decoded_by_the_configured_ffmpeg()
    {
        using var dir = new TempDir();
        using var fake = new Encoders.Vision.Video.FakeFfmpeg();
        File.WriteAllBytes(dir.File("clip.mp4"), [0, 0, 0, 24, (byte)'f', (byte)'t', (byte)'y', (byte)'p']);
        var clip = ModalityInput.FromFile(dir.File("clip.mp4"));
        using (var model = MultimodalModel.Load(OnevisionReference.Directory, [new LlavaVisionFactory(new LlavaVisionOptions { Video = new VideoOptions { FfmpegPath = fake.Ffmpeg } })]))
        {
            Assert.Equal("video", model.Router.Route(clip).Binding.Modality);
            // 16 frames sampled from the stand-in's 30, 4 positions each after pooling, and the newline.
            var layout = model.Layout(new MultimodalPrompt("USER: <video>\nWhat happens? ASSISTANT:", [clip]));
            Assert.Equal(16 * 4 + 1, layout.Inputs[0].Tokens);
        }
        // A configured ffmpeg that is not there: the error names the file and the option.
        using var missing = MultimodalModel.Load(OnevisionReference.Directory, [new LlavaVisionFactory(new LlavaVisionOptions { Video = new VideoOptions { FfmpegPath = dir.File("ffmpeg") } })]);
        var e = Assert.ThrowsAny<LlavaModalException>(() => missing.Layout(new MultimodalPrompt("USER: <video>\nWhat happens? ASSISTANT:", [clip])));
        Assert.Contains("clip.mp4", e.Message);
        Assert.Contains("VideoOptions.FfmpegPath", e.Message);
    }

    [Fact]
    public void A_video_placeholder_without_a_video_is_a_count_mismatch()
    {
        using var model = MultimodalModel.Load(OnevisionReference.Directory, [new LlavaVisionFactory()]);
        var e = Assert.Throws<LlavaModalException>(() => model.Layout(new MultimodalPrompt("USER: <video>\nWhat happens? ASSISTANT:", [])));
        Assert.Contains("<video>", e.Message);
    }
}
