using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Encoders.Vision.Siglip;
using LlavaModal.Multimodal.Loading;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Encoders.Vision;

public class SiglipTests
{
    static JsonConfig VisionConfig() => JsonConfig.Load(Path.Combine(Fixtures.LlavaInterleaveTiny, "config.json")).Section("vision_config");

    [Fact]
    public void The_processor_is_chosen_by_image_processor_type()
    {
        Assert.IsType<SiglipImageProcessor>(ImageProcessors.FromDirectory(Fixtures.LlavaInterleaveTiny));
        Assert.IsType<ClipImageProcessor>(ImageProcessors.FromDirectory(Fixtures.LlavaTinyA));
        using var dir = new TempDir();
        Assert.IsType<ClipImageProcessor>(ImageProcessors.FromDirectory(dir.Path));
        File.WriteAllText(dir.File("preprocessor_config.json"), """{"image_processor_type": "Qwen2VLImageProcessor"}""");
        var e = Assert.Throws<ConfigException>(() => ImageProcessors.FromDirectory(dir.Path));
        Assert.Equal("image_processor_type", e.Key);
        Assert.Contains(dir.File("preprocessor_config.json"), e.Message);
    }

    [Fact]
    public void Siglip_processor_settings_default_as_transformers_and_never_pad_or_crop()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("preprocessor_config.json"), """{"image_processor_type": "SiglipImageProcessor", "do_center_crop": true, "crop_size": 8}""");
        var p = (SiglipImageProcessor)ImageProcessors.FromDirectory(dir.Path, padToSquare: true);
        Assert.Equal((224, 224, ResampleFilter.Bicubic, false), (p.Config.ResizeWidth!.Value, p.Config.ResizeHeight!.Value, p.Config.Resample, p.Config.DoCenterCrop));
        Assert.Equal([0.5, 0.5, 0.5], p.Config.ImageMean);
        // A 3x1 strip becomes exactly 224x224 (aspect not kept); byte 255 → (1 - 0.5) / 0.5 = 1, byte 0 → -1.
        var result = p.Preprocess(new RgbImage(3, 1, [255, 255, 255, 0, 0, 0, 255, 0, 255]));
        Assert.Equal((224, 224), (result.Width, result.Height));
        var exact = new SiglipImageProcessor(SiglipImageProcessor.Defaults with { ResizeHeight = 1, ResizeWidth = 3 }).Preprocess(new RgbImage(3, 1, [255, 255, 255, 0, 0, 0, 255, 0, 255]));
        Assert.Equal([1f, -1f, 1f, 1f, -1f, -1f, 1f, -1f, 1f], exact.PixelValues);
    }

    [Theory]
    [InlineData("224")]
    [InlineData("{\"shortest_edge\": 224}")]
    public void Siglip_processor_refuses_a_size_that_is_not_height_and_width(string size)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("preprocessor_config.json"), $$"""{"image_processor_type": "SiglipImageProcessor", "size": {{size}}}""");
        var e = Assert.Throws<ConfigException>(() => ImageProcessors.FromDirectory(dir.Path));
        Assert.Equal("size", e.Key);
    }

    [Fact]
    public void Vision_config_reads_the_fixture_and_takes_siglip_defaults()
    {
        var c = SiglipVisionConfig.FromJson(VisionConfig());
        Assert.Equal((32, 64, 3, 2, 32, 8, 16), (c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.NumAttentionHeads, c.ImageSize, c.PatchSize, c.NumPatches));
        Assert.Equal(("gelu_pytorch_tanh", 1e-6, false), (c.HiddenAct, c.LayerNormEps, c.VisionUseHead));
        var defaults = SiglipVisionConfig.FromJson(JsonConfig.FromJson("""{"model_type": "siglip_vision_model"}"""));
        Assert.Equal((768, 12, 224, 16, true), (defaults.HiddenSize, defaults.NumHiddenLayers, defaults.ImageSize, defaults.PatchSize, defaults.VisionUseHead));
        var back = SiglipVisionConfig.FromJson(JsonConfig.FromJson(System.Text.Json.JsonSerializer.Serialize(c.ToJsonObject())));
        Assert.Equal(c, back);
    }

    [Theory]
    [InlineData("\"hidden_act\": \"swish\"", "hidden_act")]
    [InlineData("\"image_size\": 4", "image_size")]
    [InlineData("\"hidden_size\": 30", "hidden_size")]
    [InlineData("\"model_type\": \"clip_vision_model\"", "model_type")]
    public void Bad_vision_config_values_are_refused_by_key(string entry, string key)
    {
        var e = Assert.Throws<ConfigException>(() => SiglipVisionConfig.FromJson(JsonConfig.FromJson($$"""{"model_type": "siglip_vision_model", "patch_size": 8, "num_attention_heads": 4, {{entry}}}""", "/m/config.json")));
        Assert.EndsWith(key, e.Key);
    }

    [Fact]
    public void A_384_pixel_tower_with_14_pixel_patches_keeps_27_by_27_patches_as_so400m_does()
    {
        var config = SiglipVisionConfig.FromJson(JsonConfig.FromJson("""{"model_type": "siglip_vision_model", "image_size": 384, "patch_size": 14, "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2, "num_hidden_layers": 1, "vision_use_head": false}"""));
        Assert.Equal(27, config.GridSize);
        Assert.Equal(729, config.NumPatches);
        using var tower = new SiglipVisionModel(config, new LlavaModal.Abstractions.Vision.FeatureSelection([-1], "full"),
            new LlavaModal.Abstractions.Layers.ModelBuildContext(TorchSharp.torch.ScalarType.Float32, TorchSharp.torch.CPU, LlavaModal.Core.Modules.TorchLinearFactory.Instance, new LlavaModal.Core.Attention.EagerAttention()));
        using var features = tower.Features(TorchSharp.torch.randn(1, 3, 384, 384));
        Assert.Equal(new long[] { 1, 729, 32 }, features.shape);
    }

    [Fact]
    public void The_default_strategy_drops_the_first_patch_as_transformers_llava_does()
    {
        using var checkpoint = SafeTensorsCheckpoint.Open(Fixtures.LlavaInterleaveTiny);
        var config = SiglipVisionConfig.FromJson(VisionConfig());
        using var full = SiglipVisionModel.Load(checkpoint, config, "vision_tower.", TestBuild.Float32, new FeatureSelection([-1], "full"));
        using var dropped = SiglipVisionModel.Load(checkpoint, config, "vision_tower.", TestBuild.Float32, new FeatureSelection([-1, -2]));
        Assert.Equal((16, 15, 64), (full.TokenCount, dropped.TokenCount, dropped.OutputWidth));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var pixels = randn(1, 3, 32, 32);
        var states = full.HiddenStates(pixels);
        var expected = cat([states[3].narrow(1, 1, 15), states[2].narrow(1, 1, 15)], -1);
        Assert.True(dropped.Features(pixels).allclose(expected));
    }

    [Fact]
    public void Pooling_head_tensors_are_skipped_and_other_strays_refused()
    {
        using var dir = new TempDir();
        var config = SiglipVisionConfig.FromJson(VisionConfig());
        using (var source = SafeTensorsFile.Open(Path.Combine(Fixtures.LlavaInterleaveTiny, "model.safetensors")))
        {
            var tensors = source.Tensors.Keys.Select(n => new KeyValuePair<string, Tensor>(n, source.Read(n))).ToList();
            tensors.Add(new("vision_tower.vision_model.head.probe", zeros(1, 1, 32)));
            SafeTensorsWriter.Write(dir.File("model.safetensors"), tensors);
            tensors.Add(new("vision_tower.vision_model.encoder.extra", zeros(1)));
            SafeTensorsWriter.Write(dir.File("stray.safetensors"), tensors);
        }
        using (var checkpoint = SafeTensorsCheckpoint.Open(dir.Path))
        using (var tower = SiglipVisionModel.Load(checkpoint, config, "vision_tower.", TestBuild.Float32, new FeatureSelection([-1], "full")))
            Assert.Equal(16, tower.TokenCount);
        File.Move(dir.File("stray.safetensors"), dir.File("model.safetensors"), overwrite: true);
        using var stray = SafeTensorsCheckpoint.Open(dir.Path);
        var e = Assert.Throws<CheckpointMismatchException>(() => SiglipVisionModel.Load(stray, config, "vision_tower.", TestBuild.Float32, new FeatureSelection([-1], "full")));
        Assert.Contains("vision_tower.vision_model.encoder.extra", e.Unexpected);
    }

    [Fact]
    public void The_built_in_catalog_resolves_the_siglip_tower()
    {
        Assert.IsType<SiglipVisionTowerFamily>(BuiltInArchitectures.Catalog.FindVisionTower("siglip_vision_model"));
    }
}
