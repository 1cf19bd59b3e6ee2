using LlavaModal.Abstractions.Configuration;
using LlavaModal.Decoder.Generation;
using LlavaModal.Decoder.Qwen3;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Loading;
using LlavaModal.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Decoder;

/// <summary>
/// Qwen3 from its published definition: hand-made tiny checkpoints (q_norm / k_norm per head before RoPE, head_dim from
/// the config and unrelated to the width, tied or untied head, with and without attention_bias) compared with
/// <see cref="ReferenceDecoder"/>, which computes the same equations op by op from the safetensors file.
/// </summary>
public class Qwen3Tests(ITestOutputHelper output)
{
    static readonly long[] Ids = [1, 288, 349, 306, 394, 269, 286, 391, 375, 282, 376, 401, 356];

    internal static ReferenceDecoder Shape(bool bias, bool tied) => new()
    {
        Vocab = 511, Hidden = 48, Intermediate = 96, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 16, Eps = 1e-6, Theta = 1e6,
        QkNorm = true, QkvBias = bias, OutputBias = bias, Tied = tied,
    };

    internal static string Config(bool bias, bool tied, string extra = "") => $$"""
        {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": 511, "hidden_size": 48, "intermediate_size": 96,
         "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "hidden_act": "silu",
         "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "max_position_embeddings": 128, "attention_bias": {{(bias ? "true" : "false")}},
         "tie_word_embeddings": {{(tied ? "true" : "false")}}, "use_sliding_window": false, "sliding_window": null, "max_window_layers": 2,
         "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 510, "torch_dtype": "float32"{{extra}}}
        """;

    /// <summary>A checkpoint folder with the qwen2-tiny tokenizer (vocabulary 511), so the whole loading path runs.</summary>
    internal static void Write(string dir, ReferenceDecoder reference, string config, long seed)
    {
        reference.WriteCheckpoint(dir, config, seed);
        foreach (var file in new[] { "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "generation_config.json" })
            File.Copy(Path.Combine(Fixtures.Qwen2Tiny, file), Path.Combine(dir, file));
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public void Logits_follow_the_published_equations(bool bias, bool tied)
    {
        using var dir = new TempDir();
        var reference = Shape(bias, tied);
        Write(dir.Path, reference, Config(bias, tied), seed: bias ? 21 : 22);
        using var folder = ModelFolder.Open(dir.Path);
        using var decoder = folder.LoadDecoder();
        Assert.IsType<Qwen3ForCausalLM>(decoder);
        var names = decoder.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Contains("model.layers.1.self_attn.q_norm.weight", names);
        Assert.Equal(bias, names.Contains("model.layers.0.self_attn.o_proj.bias"));
        Assert.Equal(!tied, names.Contains("lm_head.weight"));

        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ours = decoder.Forward(decoder.Embed(tensor(Ids).unsqueeze(0)), arange(Ids.Length).unsqueeze(0))[0];
        var expected = reference.Logits(dir.Path, Ids).to(ScalarType.Float32);
        output.WriteLine($"bias {bias}, tied {tied}: relative error {Parity.RelativeError(ours, expected):E2}");
        Parity.AssertClose(ours, expected, 1e-4, "qwen3 logits");
        Assert.Equal(Parity.Ids(expected.argmax(-1)), Parity.Ids(ours.argmax(-1)));
        // Without q_norm / k_norm the same tensors give other logits: the norms are really applied.
        var withoutNorms = (reference with { QkNorm = false, }).Logits(dir.Path, Ids).to(ScalarType.Float32);
        Assert.True(Parity.RelativeError(ours, withoutNorms) > 1e-3);
    }

    [Fact]
    public void Greedy_generation_single_and_batched_follows_the_reference()
    {
        using var dir = new TempDir();
        var reference = Shape(bias: false, tied: true);
        Write(dir.Path, reference, Config(false, true), seed: 23);
        using var model = LanguageModel.Load(dir.Path);
        var options = new GenerationOptions { MaxNewTokens = 12, SkipSpecialTokens = false };
        var prompts = new[] { "The quick brown fox jumps over the lazy dog.", "12345 + 67890 = ?" };
        var single = prompts.Select(p => model.Generate(p, options)).ToList();
        for (int i = 0; i < prompts.Length; i++)
        {
            var expected = reference.Greedy(dir.Path, single[i].PromptIds.Select(id => (long)id).ToList(), single[i].GeneratedIds.Count);
            Assert.Equal(expected, single[i].GeneratedIds.Select(id => (long)id));
        }
        Assert.Equal(12, single[0].GeneratedIds.Count);
        var batch = model.GenerateBatch(prompts, options);
        Assert.Equal(single.Select(r => r.GeneratedIds), batch.Select(r => r.GeneratedIds));
    }

    [Fact]
    public void Config_defaults_and_round_trip_follow_transformers()
    {
        var nested = Qwen3Config.FromJson(JsonConfig.FromJson("""{"model_type": "qwen3", "hidden_size": 1024, "num_attention_heads": 16}"""));
        Assert.Equal(128, nested.HeadDim);
        Assert.False(nested.AttentionBias);
        Assert.Null(nested.Windows.WindowOf(31));
        var config = Qwen3Config.FromJson(JsonConfig.FromJson(Config(true, false, ", \"layer_types\": [\"full_attention\", \"sliding_attention\"]").Replace("\"use_sliding_window\": false, \"sliding_window\": null", "\"use_sliding_window\": true, \"sliding_window\": 8"), "config.json"), requireArchitecture: true);
        Assert.Equal((16, true, 1e6), (config.HeadDim, config.AttentionBias, config.RopeTheta));
        Assert.Equal(new int?[] { null, 8 }, new[] { config.Windows.WindowOf(0), config.Windows.WindowOf(1) });
        var written = System.Text.Json.JsonSerializer.Serialize(config.ToJsonObject());
        var back = Qwen3Config.FromJson(JsonConfig.FromJson(written), requireArchitecture: true);
        Assert.Equal(written, System.Text.Json.JsonSerializer.Serialize(back.ToJsonObject()));
        Assert.Equal(config.Windows.LayerTypes, back.Windows.LayerTypes);
    }

    [Theory]
    [InlineData("\"head_dim\": 15", "head_dim")]
    [InlineData("\"num_key_value_heads\": 3", "num_key_value_heads")]
    [InlineData("\"hidden_act\": \"gelu\"", "hidden_act")]
    [InlineData("\"sliding_window\": 0", "sliding_window")]
    [InlineData("\"layer_types\": [\"full_attention\"]", "layer_types")]
    [InlineData("\"model_type\": \"qwen2\"", "model_type")]
    public void Bad_values_are_refused_naming_the_file_and_key(string replacement, string key)
    {
        var json = Config(false, true);
        var name = replacement[..replacement.IndexOf(':')];
        json = json.Contains(name, StringComparison.Ordinal)
            ? System.Text.RegularExpressions.Regex.Replace(json, System.Text.RegularExpressions.Regex.Escape(name) + @": (\[[^\]]*\]|""[^""]*""|[^,}]+)", replacement)
            : json.Replace("\"torch_dtype\"", replacement + ", \"torch_dtype\"");
        var e = Assert.Throws<LlavaModal.Abstractions.ConfigException>(() => Qwen3Config.FromJson(JsonConfig.FromJson(json, "/m/config.json"), requireArchitecture: true));
        Assert.Contains("/m/config.json", e.Message);
        Assert.Contains(key, e.Message);
    }
}
