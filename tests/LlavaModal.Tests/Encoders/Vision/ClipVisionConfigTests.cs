using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Encoders.Vision.Clip;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.Encoders.Vision;

public class ClipVisionConfigTests
{
    static ClipVisionConfig Vision(string body) => ClipVisionConfig.FromJson(JsonConfig.FromJson($"{{\"vision_config\": {{{body}}}}}", "cfg.json").Section("vision_config"));

    [Fact]
    public void Empty_section_takes_the_clip_vision_config_defaults()
    {
        var c = Vision("");
        Assert.Equal(new ClipVisionConfig(), c);
        Assert.Equal((768, 3072, 12, 12, 3, 224, 32, "quick_gelu", 1e-5),
            (c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumChannels, c.ImageSize, c.PatchSize, c.HiddenAct, c.LayerNormEps));
        Assert.Equal(50, c.NumPositions);
    }

    [Fact]
    public void Gelu_activation_is_accepted() => Assert.Equal("gelu", Vision("\"hidden_act\": \"gelu\"").HiddenAct);

    [Theory]
    [InlineData("\"hidden_size\": 30, \"num_attention_heads\": 4", "vision_config.hidden_size")]
    [InlineData("\"image_size\": 100, \"patch_size\": 14", "vision_config.image_size")]
    [InlineData("\"hidden_act\": \"swish\"", "vision_config.hidden_act")]
    [InlineData("\"model_type\": \"siglip_vision_model\"", "vision_config.model_type")]
    [InlineData("\"num_hidden_layers\": 0", "vision_config.num_hidden_layers")]
    [InlineData("\"patch_size\": \"14\"", "vision_config.patch_size")]
    [InlineData("\"layer_norm_eps\": -1", "vision_config.layer_norm_eps")]
    public void Invalid_values_name_the_file_and_key(string body, string key)
    {
        var e = Assert.Throws<ConfigException>(() => Vision(body));
        Assert.Equal(key, e.Key);
        Assert.Contains("cfg.json", e.Message);
    }

    [Theory]
    [InlineData("\"vision_feature_select_strategy\": \"cls_patch\"", "vision_feature_select_strategy")]
    [InlineData("\"vision_feature_layer\": -14", "vision_feature_layer")]
    [InlineData("\"vision_feature_layer\": 13", "vision_feature_layer")]
    [InlineData("\"vision_feature_layer\": [-2, 20]", "vision_feature_layer")]
    [InlineData("\"vision_feature_layer\": []", "vision_feature_layer")]
    public void Invalid_feature_selection_names_the_key(string body, string key)
    {
        var json = JsonConfig.FromJson($"{{{body}}}", "llava.json");
        var e = Assert.Throws<ConfigException>(() => LlavaFeatureSelection.FromJson(json, new ClipVisionConfig().NumHiddenLayers));
        Assert.Equal(key, e.Key);
    }

    [Fact]
    public void Feature_selection_reads_lists_and_defaults()
    {
        var vision = new ClipVisionConfig();
        Assert.Equal(new[] { -2 }, LlavaFeatureSelection.FromJson(JsonConfig.FromJson("{}"), vision.NumHiddenLayers).Layers);
        var list = LlavaFeatureSelection.FromJson(JsonConfig.FromJson("""{"vision_feature_layer": [-2, -5, 3], "vision_feature_select_strategy": "full"}"""), vision.NumHiddenLayers);
        Assert.Equal(new[] { -2, -5, 3 }, list.Layers);
        Assert.True(list.KeepsClsToken);
        Assert.Equal(new[] { 11, 8, 3 }, list.Resolve(vision.NumHiddenLayers));
    }

    [Fact]
    public void Standalone_config_files_are_read_from_every_layout()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("vision.json"), """{"model_type": "clip_vision_model", "hidden_size": 64, "num_attention_heads": 4}""");
        File.WriteAllText(dir.File("clip.json"), """{"model_type": "clip", "text_config": {"hidden_size": 512}, "vision_config": {"hidden_size": 64, "num_attention_heads": 4}}""");
        Assert.Equal(64, ClipVisionConfig.Load(dir.File("vision.json")).HiddenSize);
        Assert.Equal(64, ClipVisionConfig.Load(dir.File("clip.json")).HiddenSize);
        Assert.Equal(32, ClipVisionConfig.Load(Path.Combine(Fixtures.LlavaTinyA, "config.json")).HiddenSize);
    }
}
