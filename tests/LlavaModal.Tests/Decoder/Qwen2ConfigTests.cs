using System.Text.Json;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Decoder.Qwen2;
using LlavaModal.Multimodal.Loading;

namespace LlavaModal.Tests.Decoder;

public class Qwen2ConfigTests
{
    // The shape of a released Qwen2-0.5B-Instruct config.json: a window is stated, but switched off.
    const string Released = """
        {"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151645, "hidden_act": "silu",
         "hidden_size": 896, "initializer_range": 0.02, "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 24,
         "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
         "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16", "use_cache": true,
         "use_sliding_window": false, "vocab_size": 151936}
        """;

    static Qwen2Config Parse(string json, bool top = true) => Qwen2Config.FromJson(JsonConfig.FromJson(json, "/m/config.json"), requireArchitecture: top);

    [Fact]
    public void A_released_config_reads_as_transformers_reads_it()
    {
        var c = Parse(Released);
        Assert.Equal((896, 14, 2, 64, 24), (c.HiddenSize, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.NumHiddenLayers));
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal(1e6, c.RopeTheta);
        Assert.Equal(151643, c.BosTokenId);
        Assert.Equal([151645], c.EosTokenIds);
        Assert.Equal(TorchSharp.torch.ScalarType.BFloat16, c.TorchDType);
        Assert.All(Enumerable.Range(0, 24), layer => Assert.Null(c.Windows.WindowOf(layer)));
    }

    [Fact]
    public void Nested_text_config_takes_the_qwen2_defaults()
    {
        var c = Parse("""{"model_type": "qwen2"}""", top: false);
        Assert.Equal((151936, 4096, 22016, 32, 32, 128, 32768), (c.VocabSize, c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.NumKeyValueHeads, c.HeadDim, c.MaxPositionEmbeddings));
        Assert.Equal(new QwenSlidingWindows(false, 4096, 28, null), c.Windows);
        Assert.False(c.TieWordEmbeddings);
        Assert.Null(c.BosTokenId);
        Assert.Empty(c.EosTokenIds);
        // Switched on with the default window of 4096, from layer 28 on.
        var on = Parse("""{"use_sliding_window": true}""", top: false);
        Assert.Equal((null, 4096), (on.Windows.WindowOf(27), on.Windows.WindowOf(28)));
        // An explicit null window means none, unlike an absent key.
        Assert.Null(Parse("""{"use_sliding_window": true, "sliding_window": null}""", top: false).Windows.WindowOf(31));
    }

    [Fact]
    public void The_written_config_reads_back_the_same()
    {
        var c = Parse(Released.Replace("\"use_sliding_window\": false", "\"use_sliding_window\": true").Replace("\"max_window_layers\": 24", "\"max_window_layers\": 20"));
        var written = JsonSerializer.Serialize(c.ToJsonObject());
        Assert.Equal(written, JsonSerializer.Serialize(Parse(written).ToJsonObject()));
        Assert.Contains("\"architectures\":[\"Qwen2ForCausalLM\"]", written);
        Assert.Equal((null, 32768), (Parse(written).Windows.WindowOf(19), Parse(written).Windows.WindowOf(20)));
        // max_window_layers = num_hidden_layers (as released) leaves every layer full even when switched on.
        Assert.Null(Parse(Released.Replace("\"use_sliding_window\": false", "\"use_sliding_window\": true")).Windows.WindowOf(23));
    }

    [Theory]
    [InlineData("\"hidden_size\": 900", "hidden_size")]
    [InlineData("\"num_key_value_heads\": 3", "num_key_value_heads")]
    [InlineData("\"max_window_layers\": -1", "max_window_layers")]
    [InlineData("\"sliding_window\": -4", "sliding_window")]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}", "rope_scaling.rope_type")]
    [InlineData("\"layer_types\": \"sliding_attention\"", "layer_types")]
    public void Bad_values_are_refused_naming_the_file_and_key(string replacement, string key)
    {
        var name = replacement[..replacement.IndexOf(':')];
        var json = Released.Contains(name, StringComparison.Ordinal)
            ? System.Text.RegularExpressions.Regex.Replace(Released, System.Text.RegularExpressions.Regex.Escape(name) + @": [^,}]+", replacement)
            : Released.Replace("\"vocab_size\"", replacement + ", \"vocab_size\"");
        var e = Assert.Throws<ConfigException>(() => Parse(json));
        Assert.Equal(key, e.Key);
        Assert.Contains("/m/config.json", e.Message);
    }

    [Fact]
    public void A_top_level_config_without_its_sizes_is_refused()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("""{"model_type": "qwen2", "vocab_size": 10}"""));
        Assert.Equal("hidden_size", e.Key);
    }

    [Fact]
    public void The_built_in_catalog_resolves_qwen2_and_qwen3()
    {
        Assert.IsType<Qwen2Family>(BuiltInArchitectures.Catalog.FindDecoder("qwen2"));
        Assert.IsType<LlavaModal.Decoder.Qwen3.Qwen3Family>(BuiltInArchitectures.Catalog.FindDecoder("qwen3"));
    }
}
