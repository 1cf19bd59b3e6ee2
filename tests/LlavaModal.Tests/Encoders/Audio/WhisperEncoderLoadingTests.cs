using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Encoders.Audio.Whisper;
using LlavaModal.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Encoders.Audio;

/// <summary>Checkpoint layouts, strict loading, config errors and the large-v3 parameter layout.</summary>
public class WhisperEncoderLoadingTests(ITestOutputHelper output)
{
    static string Dir => WhisperEncoderTinyFixture.Dir;
    static string ConfigText => File.ReadAllText(Path.Combine(Dir, "config.json"));

    /// <summary>Rewrites the fixture's weights with <paramref name="rename"/> (null drops a tensor) plus <paramref name="extra"/> tensors.</summary>
    static void WriteCheckpoint(string directory, Func<string, string?> rename, string configJson, params (string Name, long[] Shape)[] extra)
    {
        using var scope = NewDisposeScope();
        using var source = SafeTensorsFile.Open(Path.Combine(Dir, "model.safetensors"));
        var tensors = new List<KeyValuePair<string, Tensor>>();
        foreach (var name in source.Tensors.Keys.OrderBy(n => n, StringComparer.Ordinal))
            if (rename(name) is { } renamed) tensors.Add(new(renamed, source.Read(name)));
        foreach (var (name, shape) in extra) tensors.Add(new(name, zeros(shape)));
        Directory.CreateDirectory(directory);
        SafeTensorsWriter.Write(Path.Combine(directory, "model.safetensors"), tensors);
        File.WriteAllText(Path.Combine(directory, "config.json"), configJson);
    }

    static Tensor Run(WhisperEncoder encoder)
    {
        using var expected = SafeTensorsFile.Open(Path.Combine(Dir, "expected", "encoder.safetensors"));
        using var _ = no_grad();
        using var features = expected.Read("chirp.input_features");
        return encoder.Forward(features);
    }

    [Fact]
    public void Conditional_generation_and_multimodal_layouts_give_identical_outputs()
    {
        using var scope = NewDisposeScope();
        using var tmp = new TempDir();
        var generation = Path.Combine(tmp.Path, "generation");
        var multimodal = Path.Combine(tmp.Path, "multimodal");
        // WhisperForConditionalGeneration: everything under model., plus the vocabulary head.
        WriteCheckpoint(generation, n => "model." + n, ConfigText, ("proj_out.weight", [64, 64]));
        // A LLaVA-style folder: the encoder under audio_tower., its config nested, other components beside it.
        var nested = $"{{\"model_type\": \"llava_audio\", \"audio_config\": {ConfigText}, \"text_config\": {{\"model_type\": \"llama\"}}}}";
        WriteCheckpoint(multimodal, n => n.StartsWith("encoder.", StringComparison.Ordinal) ? "audio_tower." + n["encoder.".Length..] : null, nested,
            ("multi_modal_projector.linear_1.weight", [32, 64]), ("language_model.model.embed_tokens.weight", [10, 32]));

        using var plain = WhisperEncoder.FromPretrained(Dir);
        using var fromGeneration = WhisperEncoder.FromPretrained(generation);
        using var fromMultimodal = WhisperEncoder.FromPretrained(multimodal);
        using (var ckpt = SafeTensorsCheckpoint.Open(generation)) Assert.Equal("model.encoder.", WhisperEncoder.DetectPrefix(ckpt));
        using (var ckpt = SafeTensorsCheckpoint.Open(multimodal)) Assert.Equal("audio_tower.", WhisperEncoder.DetectPrefix(ckpt));
        using (var ckpt = SafeTensorsCheckpoint.Open(Dir)) Assert.Equal("encoder.", WhisperEncoder.DetectPrefix(ckpt));

        var reference = Run(plain);
        Assert.True(Run(fromGeneration).equal(reference).all().item<bool>(), "model.encoder. layout differs");
        Assert.True(Run(fromMultimodal).equal(reference).all().item<bool>(), "audio_tower. layout differs");
        Assert.Equal(plain.Config, fromMultimodal.Config);
    }

    [Fact]
    public void Load_with_an_explicit_prefix_and_dtype()
    {
        using var scope = NewDisposeScope();
        using var ckpt = SafeTensorsCheckpoint.Open(Dir);
        var config = WhisperEncoderConfig.Load(Path.Combine(Dir, "config.json"));
        using var encoder = WhisperEncoder.Load(ckpt, config, "encoder.", ScalarType.Float64, CPU);
        Assert.Equal(ScalarType.Float64, encoder.DType);
        var result = Run(encoder);
        Assert.Equal(ScalarType.Float64, result.dtype);
        using var expected = SafeTensorsFile.Open(Path.Combine(Dir, "expected", "encoder.safetensors"));
        var err = Parity.RelativeError(result, expected.Read("chirp.encoder_output"));
        output.WriteLine($"float64 weights vs fp32 reference: relative error {err:E3}");
        Assert.True(err <= 1e-4);
    }

    [Fact]
    public void Strict_load_names_missing_unexpected_and_wrongly_shaped_tensors()
    {
        using var scope = NewDisposeScope();
        using var tmp = new TempDir();
        WriteCheckpoint(tmp.Path, n => n == "encoder.layers.1.fc2.bias" ? null : n, ConfigText,
            ("encoder.layers.2.fc1.weight", [128, 64]), ("encoder.layers.0.self_attn.k_proj.bias", [64]));
        var config = WhisperEncoderConfig.Load(Path.Combine(Dir, "config.json"));
        using var ckpt = SafeTensorsCheckpoint.Open(tmp.Path);
        var e = Assert.Throws<CheckpointMismatchException>(() => WhisperEncoder.Load(ckpt, config, "encoder.", ScalarType.Float32, CPU));
        Assert.Equal(["encoder.layers.1.fc2.bias"], e.Missing);
        Assert.Equal(["encoder.layers.0.self_attn.k_proj.bias", "encoder.layers.2.fc1.weight"], e.Unexpected);
        Assert.Empty(e.WrongShape);
        Assert.Contains("encoder.layers.2.fc1.weight", e.Message);

        // A config that disagrees with the weights: every tensor of the wrong width is named with both shapes.
        var wide = config with { EncoderFfnDim = 256 };
        using var original = SafeTensorsCheckpoint.Open(Dir);
        var shape = Assert.Throws<CheckpointMismatchException>(() => WhisperEncoder.Load(original, wide, "encoder.", ScalarType.Float32, CPU));
        Assert.Contains("encoder.layers.0.fc1.weight (checkpoint [128, 64], model [256, 64])", shape.WrongShape);
        Assert.Equal(6, shape.WrongShape.Count); // fc1.weight, fc1.bias and fc2.weight of both layers
    }

    [Fact]
    public void A_folder_without_an_encoder_is_reported()
    {
        using var tmp = new TempDir();
        WriteCheckpoint(tmp.Path, n => n.StartsWith("decoder.", StringComparison.Ordinal) ? n : null, ConfigText);
        var e = Assert.Throws<CheckpointException>(() => WhisperEncoder.FromPretrained(tmp.Path));
        Assert.Contains("no Whisper encoder found", e.Message);
        Assert.Contains("conv1.weight", e.Message);
    }

    static string[] EncoderNames(string prefix) => [prefix + "conv1.weight", prefix + "conv2.weight", prefix + "embed_positions.weight"];

    [Fact]
    public void Prefix_detection_handles_bare_ambiguous_and_lookalike_names()
    {
        Assert.Equal("", WhisperEncoder.DetectPrefix(EncoderNames(""), "ckpt"));
        // "xconv1.weight" is not under a dotted prefix, and a conv1 without conv2 / positions is not an encoder.
        Assert.Equal("audio_tower.", WhisperEncoder.DetectPrefix([.. EncoderNames("audio_tower."), "xconv1.weight", "vision.conv1.weight"], "ckpt"));
        Assert.Equal("model.encoder.", WhisperEncoder.DetectPrefix([.. EncoderNames("model.encoder."), .. EncoderNames("teacher.")], "ckpt"));
        var e = Assert.Throws<CheckpointException>(() => WhisperEncoder.DetectPrefix([.. EncoderNames("a."), .. EncoderNames("b.")], "ckpt"));
        Assert.Contains("'a.', 'b.'", e.Message);
    }

    [Theory]
    [InlineData("{\"model_type\": \"llama\"}", "model_type")]
    [InlineData("{\"d_model\": \"wide\"}", "d_model")]
    [InlineData("{\"d_model\": 0}", "d_model")]
    [InlineData("{\"d_model\": 64, \"encoder_attention_heads\": 5}", "encoder_attention_heads")]
    [InlineData("{\"encoder_layers\": -1}", "encoder_layers")]
    [InlineData("{\"activation_function\": \"swish9\"}", "activation_function")]
    [InlineData("{\"scale_embedding\": \"no\"}", "scale_embedding")]
    [InlineData("{\"torch_dtype\": \"int8\"}", "torch_dtype")]
    public void Config_errors_name_the_key(string json, string key)
    {
        var e = Assert.Throws<ConfigException>(() => WhisperEncoderConfig.FromJson(JsonConfig.FromJson(json, "cfg.json")));
        Assert.Equal(key, e.Key);
        Assert.Contains("cfg.json", e.Message);
        Assert.Contains($"'{key}'", e.Message);
    }

    [Fact]
    public void Nested_config_errors_name_the_dotted_key_and_absent_keys_take_whisper_defaults()
    {
        using var tmp = new TempDir();
        var path = tmp.File("config.json");
        File.WriteAllText(path, "{\"audio_config\": {\"d_model\": 64, \"encoder_attention_heads\": 3}}");
        var e = Assert.Throws<ConfigException>(() => WhisperEncoderConfig.Load(path, "audio_config"));
        Assert.Equal("audio_config.encoder_attention_heads", e.Key);
        Assert.Contains(path, e.Message);

        File.WriteAllText(path, "{\"audio_config\": {}}");
        var defaults = WhisperEncoderConfig.Load(path, "audio_config");
        // transformers 4.44 WhisperConfig defaults (whisper-tiny).
        Assert.Equal(new WhisperEncoderConfig
        {
            DModel = 384, EncoderLayers = 4, EncoderAttentionHeads = 6, EncoderFfnDim = 1536, NumMelBins = 80,
            MaxSourcePositions = 1500, ActivationFunction = "gelu", ScaleEmbedding = false, TorchDType = null,
        }, defaults);
        Assert.Equal(3000, defaults.InputFrames);
        Assert.Equal(1500, defaults.TokensPerWindow);
        Assert.Equal(750, (defaults with { AveragePool = true }).TokensPerWindow);
    }

    [Fact]
    public void Large_v3_shaped_encoder_has_the_checkpoint_names_and_shapes()
    {
        var config = WhisperEncoderConfig.FromJson(JsonConfig.FromJson(
            "{\"model_type\": \"whisper\", \"d_model\": 1280, \"encoder_layers\": 32, \"encoder_attention_heads\": 20, \"encoder_ffn_dim\": 5120, \"num_mel_bins\": 128, \"max_source_positions\": 1500, \"torch_dtype\": \"float16\"}"));
        using var encoder = new WhisperEncoder(config, ScalarType.Float16, device("meta"));
        var actual = encoder.named_parameters().Select(p => $"{p.name} [{string.Join(", ", p.parameter.shape)}]").ToList();

        var expected = new List<string>
        {
            "conv1.weight [1280, 128, 3]", "conv1.bias [1280]", "conv2.weight [1280, 1280, 3]", "conv2.bias [1280]",
            "embed_positions.weight [1500, 1280]",
        };
        for (int i = 0; i < 32; i++)
        {
            var l = $"layers.{i}.";
            expected.AddRange([
                l + "self_attn.q_proj.weight [1280, 1280]", l + "self_attn.q_proj.bias [1280]",
                l + "self_attn.k_proj.weight [1280, 1280]",
                l + "self_attn.v_proj.weight [1280, 1280]", l + "self_attn.v_proj.bias [1280]",
                l + "self_attn.out_proj.weight [1280, 1280]", l + "self_attn.out_proj.bias [1280]",
                l + "self_attn_layer_norm.weight [1280]", l + "self_attn_layer_norm.bias [1280]",
                l + "fc1.weight [5120, 1280]", l + "fc1.bias [5120]", l + "fc2.weight [1280, 5120]", l + "fc2.bias [1280]",
                l + "final_layer_norm.weight [1280]", l + "final_layer_norm.bias [1280]",
            ]);
        }
        expected.AddRange(["layer_norm.weight [1280]", "layer_norm.bias [1280]"]);

        Assert.Equal(expected.Order(StringComparer.Ordinal), actual.Order(StringComparer.Ordinal));
        Assert.All(encoder.parameters(), p => Assert.Equal(ScalarType.Float16, p.dtype));
        output.WriteLine($"large-v3 encoder parameters: {encoder.ParameterCount:N0}");
        Assert.Equal(636_968_960L, encoder.ParameterCount);
    }
}
