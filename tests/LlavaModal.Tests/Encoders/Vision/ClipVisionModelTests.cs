using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Encoders.Vision.Clip;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal.Loading;
using LlavaModal.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Encoders.Vision;

public class ClipVisionModelTests(LlavaTinyVisionFixture fx) : IClassFixture<LlavaTinyVisionFixture>
{
    static readonly ClipVisionConfig VitL14At336 = new()
    {
        HiddenSize = 1024, IntermediateSize = 4096, NumHiddenLayers = 24, NumAttentionHeads = 16, ImageSize = 336, PatchSize = 14,
    };

    static readonly string[] LayerTensors =
    [
        "layer_norm1.weight", "layer_norm1.bias",
        "self_attn.q_proj.weight", "self_attn.q_proj.bias", "self_attn.k_proj.weight", "self_attn.k_proj.bias",
        "self_attn.v_proj.weight", "self_attn.v_proj.bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
        "layer_norm2.weight", "layer_norm2.bias",
        "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias",
    ];

    /// <summary>Bit-identical (same weights, same computation).</summary>
    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    static string Fixture(string name) => Path.Combine(Fixtures.LlavaTinyA, name);

    [Fact]
    public void ViT_L_14_336_state_dict_has_the_hugging_face_names_and_shapes()
    {
        LlavaModal.Core.Native.TorchNativeRuntime.EnsureLoadable();
        using var model = new ClipVisionModel(VitL14At336, device: torch.device("meta"));
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);

        var expected = new List<string>
        {
            "vision_model.embeddings.class_embedding",
            "vision_model.embeddings.patch_embedding.weight",
            "vision_model.embeddings.position_embedding.weight",
            "vision_model.pre_layrnorm.weight", "vision_model.pre_layrnorm.bias",
        };
        for (int i = 0; i < 24; i++) expected.AddRange(LayerTensors.Select(t => $"vision_model.encoder.layers.{i}.{t}"));
        expected.AddRange(["vision_model.post_layernorm.weight", "vision_model.post_layernorm.bias"]);
        Assert.Equal(expected.Order(StringComparer.Ordinal), parameters.Keys.Order(StringComparer.Ordinal));

        Assert.Equal(new long[] { 1024 }, parameters["vision_model.embeddings.class_embedding"]);
        Assert.Equal(new long[] { 1024, 3, 14, 14 }, parameters["vision_model.embeddings.patch_embedding.weight"]);
        Assert.Equal(new long[] { 577, 1024 }, parameters["vision_model.embeddings.position_embedding.weight"]);
        Assert.Equal(new long[] { 4096, 1024 }, parameters["vision_model.encoder.layers.23.mlp.fc1.weight"]);
        Assert.Equal(new long[] { 1024, 4096 }, parameters["vision_model.encoder.layers.0.mlp.fc2.weight"]);
        Assert.Equal(new long[] { 1024 }, parameters["vision_model.encoder.layers.7.self_attn.out_proj.bias"]);
        // transformers' CLIPVisionModel for openai/clip-vit-large-patch14-336.
        Assert.Equal(303_507_456L, parameters.Values.Sum(s => s.Aggregate(1L, (a, b) => a * b)));
        Assert.Empty(model.named_buffers());
        Assert.Equal((576, 1024), (model.TokenCount, model.OutputWidth));
    }

    ClipVisionModel LoadTiny(FeatureSelection selection)
    {
        using var checkpoint = SafeTensorsCheckpoint.Open(Fixtures.LlavaTinyA);
        return ClipVisionModel.Load(checkpoint, fx.Tower.Config, "vision_tower.", TestBuild.Of(ScalarType.Float32), selection);
    }

    Tensor Pixels => fx.Preprocess.Read("img1.pad.pixel_values");

    [Theory]
    [InlineData(-2, 2)]
    [InlineData(-1, 3)]
    [InlineData(-4, 0)]
    [InlineData(0, 0)]
    [InlineData(1, 1)]
    [InlineData(3, 3)]
    public void A_single_layer_selects_that_hidden_state_without_cls(int layer, int state)
    {
        using var scope = NewDisposeScope();
        using var model = LoadTiny(new FeatureSelection([layer]));
        var states = fx.Tower.HiddenStates(Pixels);
        var features = model.SelectFeatures(Pixels);
        Assert.Equal(new long[] { 1, 576, 32 }, features.shape);
        Assert.True(Same(features, states[state].narrow(1, 1, 576)));
    }

    [Fact]
    public void Full_strategy_keeps_the_cls_token()
    {
        using var scope = NewDisposeScope();
        using var model = LoadTiny(new FeatureSelection([-2], "full"));
        var features = model.SelectFeatures(Pixels);
        Assert.Equal(new long[] { 1, 577, 32 }, features.shape);
        Assert.Equal(577, model.TokenCount);
        Assert.True(Same(features, fx.Tower.HiddenStates(Pixels)[2]));
    }

    [Fact]
    public void A_layer_list_concatenates_the_selected_states_along_the_feature_dimension()
    {
        using var scope = NewDisposeScope();
        using var model = LoadTiny(new FeatureSelection([-3, 0, -1]));
        var states = fx.Tower.HiddenStates(Pixels);
        var features = model.SelectFeatures(Pixels);
        Assert.Equal(96, model.OutputWidth);
        Assert.Equal(new long[] { 1, 576, 96 }, features.shape);
        Assert.True(Same(features, cat([states[1], states[0], states[3]], -1).narrow(1, 1, 576)));
    }

    [Fact]
    public void Layers_after_the_deepest_selected_one_are_not_run()
    {
        using var scope = NewDisposeScope();
        using var model = LoadTiny(FeatureSelection.Default);
        using (no_grad())
            foreach (var (name, p) in model.named_parameters())
                if (name.StartsWith("vision_model.encoder.layers.2.", StringComparison.Ordinal)) p.fill_(double.NaN);
        Assert.True(model.HiddenStates(Pixels)[3].isnan().any().item<bool>());
        Assert.True(Same(model.SelectFeatures(Pixels), fx.Tower.SelectFeatures(Pixels)));
    }

    [Fact]
    public void Batched_images_give_the_same_features_as_one_at_a_time()
    {
        using var scope = NewDisposeScope();
        var a = fx.Preprocess.Read("img0.pad.pixel_values");
        var b = fx.Preprocess.Read("img1.pad.pixel_values");
        var batched = fx.Tower.SelectFeatures(cat([a, b], 0));
        Parity.AssertClose(batched, cat([fx.Tower.SelectFeatures(a), fx.Tower.SelectFeatures(b)], 0), 1e-6, "batched");
        // The caller's input survives encoding and can be reused.
        Assert.True(Same(fx.Tower.SelectFeatures(a), fx.Tower.SelectFeatures(a)));
        Assert.Equal(4, fx.Tower.HiddenStates(a).Count);
    }

    [Fact]
    public void BFloat16_tower_takes_float32_pixels_and_stays_close_to_float32()
    {
        using var scope = NewDisposeScope();
        using var checkpoint = SafeTensorsCheckpoint.Open(Fixtures.LlavaTinyA);
        using var model = ClipVisionModel.Load(checkpoint, fx.Tower.Config, "vision_tower.", TestBuild.Of(ScalarType.BFloat16));
        var features = model.SelectFeatures(Pixels);
        Assert.Equal(ScalarType.BFloat16, features.dtype);
        Parity.AssertClose(features, fx.Tower.SelectFeatures(Pixels), 5e-2, "bfloat16 vs float32");
    }

    [Fact]
    public void Wrong_image_size_is_refused_with_the_expected_shape()
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<ArgumentException>(() => fx.Tower.SelectFeatures(zeros(1, 3, 224, 224)));
        Assert.Contains("336", e.Message);
    }

    [Fact]
    public void Selecting_a_missing_layer_is_refused() =>
        Assert.Throws<ArgumentException>(() => new ClipVisionModel(fx.Tower.Config, new FeatureSelection([4])));

    static Dictionary<string, Tensor> VisionTowerTensors()
    {
        using var checkpoint = SafeTensorsCheckpoint.Open(Fixtures.LlavaTinyA);
        return checkpoint.Names.Where(n => n.StartsWith("vision_tower.", StringComparison.Ordinal))
            .ToDictionary(n => n["vision_tower.".Length..], n => checkpoint.Read(n));
    }

    static void Write(string dir, IEnumerable<KeyValuePair<string, Tensor>> tensors, string? config = null)
    {
        SafeTensorsWriter.Write(Path.Combine(dir, SafeTensorsCheckpoint.SingleFileName), tensors);
        if (config is not null) File.WriteAllText(Path.Combine(dir, "config.json"), config);
    }

    [Fact]
    public void Strict_load_names_missing_unexpected_and_wrongly_shaped_tensors()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var tensors = VisionTowerTensors();
        tensors.Remove("vision_model.post_layernorm.bias");
        tensors["vision_model.encoder.layers.3.mlp.fc1.weight"] = zeros(64, 32);
        tensors["vision_model.embeddings.position_embedding.weight"] = zeros(576, 32);
        Write(dir.Path, tensors.Select(kv => KeyValuePair.Create("vision_tower." + kv.Key, kv.Value)));
        using var checkpoint = SafeTensorsCheckpoint.Open(dir.Path);

        var e = Assert.Throws<CheckpointMismatchException>(() => ClipVisionModel.Load(checkpoint, fx.Tower.Config, "vision_tower.", TestBuild.Of(ScalarType.Float32)));
        Assert.Equal(new[] { "vision_tower.vision_model.post_layernorm.bias" }, e.Missing);
        Assert.Equal(new[] { "vision_tower.vision_model.encoder.layers.3.mlp.fc1.weight" }, e.Unexpected);
        Assert.Single(e.WrongShape);
        Assert.Contains("vision_tower.vision_model.embeddings.position_embedding.weight (checkpoint [576, 32], model [577, 32])", e.Message);
    }

    [Fact]
    public void Newer_llava_layout_is_detected_and_loads_the_same_weights()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var tensors = VisionTowerTensors().Select(kv => KeyValuePair.Create("model.vision_tower." + kv.Key, kv.Value)).ToList();
        tensors.Add(KeyValuePair.Create("model.multi_modal_projector.linear_1.weight", zeros(64, 32)));
        tensors.Add(KeyValuePair.Create("lm_head.weight", zeros(512, 64)));
        Write(dir.Path, tensors, File.ReadAllText(Fixture("config.json")));

        using (var checkpoint = SafeTensorsCheckpoint.Open(dir.Path))
        {
            Assert.Equal("model.vision_tower.", checkpoint.Find(LlavaVisionTower.Prefix, ClipVisionModel.ProbeTensor)!);
            using var model = ClipVisionModel.Load(checkpoint, fx.Tower.Config, checkpoint.Find(LlavaVisionTower.Prefix, ClipVisionModel.ProbeTensor)!, TestBuild.Of(ScalarType.Float32));
            Assert.True(Same(model.SelectFeatures(Pixels), fx.Tower.SelectFeatures(Pixels)));
        }
        using var fromFolder = ClipVisionModel.FromPretrained(dir.Path);
        Assert.Equal(fx.Tower.Selection.Layers, fromFolder.Selection.Layers);
        Assert.True(Same(fromFolder.SelectFeatures(Pixels), fx.Tower.SelectFeatures(Pixels)));

        using var original = SafeTensorsCheckpoint.Open(Fixtures.LlavaTinyA);
        Assert.Equal("vision_tower.", original.Find(LlavaVisionTower.Prefix, ClipVisionModel.ProbeTensor));
    }

    [Fact]
    public void Checkpoint_without_a_vision_tower_is_named()
    {
        using var dir = new TempDir();
        Write(dir.Path, [KeyValuePair.Create("lm_head.weight", zeros(4, 4))]);
        using var checkpoint = SafeTensorsCheckpoint.Open(dir.Path);
        var e = Assert.ThrowsAny<CheckpointException>(() => LlavaVisionTower.Load(JsonConfig.Load(Fixture("config.json")), checkpoint, BuiltInArchitectures.Catalog, TestBuild.Float32));
        Assert.Contains("vision_tower.vision_model.embeddings.class_embedding", e.Message);
    }

    [Fact]
    public void Full_clip_model_folder_loads_the_vision_tower_and_ignores_the_rest()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var tensors = VisionTowerTensors().ToList();
        tensors.Add(KeyValuePair.Create("vision_model.embeddings.position_ids", arange(577L).unsqueeze(0))); // pre-4.31 checkpoints
        tensors.Add(KeyValuePair.Create("text_model.embeddings.token_embedding.weight", zeros(10, 16)));
        tensors.Add(KeyValuePair.Create("text_model.final_layer_norm.weight", zeros(16)));
        tensors.Add(KeyValuePair.Create("visual_projection.weight", zeros(16, 32)));
        tensors.Add(KeyValuePair.Create("text_projection.weight", zeros(16, 16)));
        tensors.Add(KeyValuePair.Create("logit_scale", zeros(Array.Empty<long>())));
        var vision = """{"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2, "num_hidden_layers": 3, "image_size": 336, "patch_size": 14, "projection_dim": 16}""";
        Write(dir.Path, tensors, $$"""{"model_type": "clip", "projection_dim": 16, "text_config": {"hidden_size": 16}, "vision_config": {{vision}}}""");

        using var model = ClipVisionModel.FromPretrained(dir.Path);
        Assert.Equal(fx.Tower.Config, model.Config);
        Assert.True(Same(model.SelectFeatures(Pixels), fx.Tower.SelectFeatures(Pixels)));
    }

    [Fact]
    public void Standalone_vision_folder_loads_with_vision_model_rooted_names()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        Write(dir.Path, VisionTowerTensors(), """{"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2, "num_hidden_layers": 3, "image_size": 336, "patch_size": 14}""");
        using var model = ClipVisionModel.FromPretrained(dir.Path, selection: new FeatureSelection([-1], "full"));
        var states = fx.Tower.HiddenStates(Pixels);
        Assert.True(Same(model.SelectFeatures(Pixels), states[3]));
    }
}
