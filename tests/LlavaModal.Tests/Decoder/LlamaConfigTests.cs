using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Core.Modules;
using LlavaModal.Decoder.Llama;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Decoder;

public class LlamaConfigTests
{
    const string Base = "\"model_type\":\"llama\",\"vocab_size\":100,\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":8";

    static LlamaConfig Parse(string extra = "") => LlamaConfig.FromJson(JsonConfig.FromJson("{" + Base + extra + "}", "config.json"), requireArchitecture: true);

    static ConfigException Fails(string json) =>
        Assert.Throws<ConfigException>(() => LlamaConfig.FromJson(JsonConfig.FromJson(json, "config.json"), requireArchitecture: true));

    [Fact]
    public void Defaults_follow_the_reference_llama_config()
    {
        var c = Parse();
        Assert.Equal(8, c.NumKeyValueHeads);
        Assert.Equal(8, c.HeadDim);
        Assert.Equal(1e-6, c.RmsNormEps);
        Assert.Equal(10000, c.RopeTheta);
        Assert.Null(c.RopeScaling);
        Assert.Equal(2048, c.MaxPositionEmbeddings);
        Assert.False(c.TieWordEmbeddings);
        Assert.Equal(1, c.BosTokenId);
        Assert.Equal(new[] { 2 }, c.EosTokenIds);
        Assert.Equal(ScalarType.Float32, c.TorchDType);
    }

    [Fact]
    public void Grouped_and_multi_query_attention_and_explicit_head_dim()
    {
        Assert.Equal(4, Parse(",\"num_key_value_heads\":2").KeyValueGroups);
        Assert.Equal(8, Parse(",\"num_key_value_heads\":1").KeyValueGroups);
        Assert.Equal(32, Parse(",\"head_dim\":32").HeadDim);
    }

    [Fact]
    public void Eos_may_be_a_list_and_dtype_and_flags_are_read()
    {
        var c = Parse(",\"eos_token_id\":[2,7],\"torch_dtype\":\"bfloat16\",\"tie_word_embeddings\":true,\"attention_bias\":true,\"mlp_bias\":true,\"pad_token_id\":0,\"unknown_key\":{\"x\":1}");
        Assert.Equal(new[] { 2, 7 }, c.EosTokenIds);
        Assert.Equal(ScalarType.BFloat16, c.TorchDType);
        Assert.True(c.TieWordEmbeddings && c.AttentionBias && c.MlpBias);
        Assert.Equal(0, c.PadTokenId);
    }

    [Theory]
    [InlineData("{\"rope_type\":\"linear\",\"factor\":2.0}", "linear")]
    [InlineData("{\"type\":\"dynamic\",\"factor\":4.0}", "dynamic")]
    [InlineData("{\"rope_type\":\"llama3\",\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192}", "llama3")]
    public void Rope_scaling_variants_are_read(string scaling, string type)
    {
        Assert.Equal(type, Parse(",\"rope_scaling\":" + scaling).RopeScaling!.Type);
    }

    [Fact]
    public void Mistral_configs_share_the_architecture()
    {
        var c = LlamaConfig.FromJson(JsonConfig.FromJson("{" + Base.Replace("llama", "mistral") + ",\"sliding_window\":4096}"), true);
        Assert.Equal(4096, c.SlidingWindow);
    }

    [Theory]
    [InlineData("vocab_size")]
    [InlineData("hidden_size")]
    [InlineData("num_hidden_layers")]
    public void A_missing_architecture_key_is_named(string key)
    {
        var json = "{" + string.Join(",", Base.Split(',').Where(p => !p.StartsWith($"\"{key}\""))) + "}";
        var e = Fails(json);
        Assert.Equal(key, e.Key);
        Assert.Contains("config.json", e.Message);
    }

    [Theory]
    [InlineData(",\"hidden_act\":\"relu\"", "hidden_act")]
    [InlineData(",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":2}", "rope_scaling.rope_type")]
    [InlineData(",\"rope_scaling\":{\"rope_type\":\"linear\"}", "rope_scaling.factor")]
    [InlineData(",\"num_key_value_heads\":3", "num_key_value_heads")]
    [InlineData(",\"torch_dtype\":\"float8\"", "torch_dtype")]
    [InlineData(",\"rms_norm_eps\":\"small\"", "rms_norm_eps")]
    public void Unsupported_or_malformed_values_are_named(string extra, string key)
    {
        Assert.Equal(key, Fails("{" + Base + extra + "}").Key);
    }

    [Fact]
    public void A_non_llama_model_type_is_refused()
    {
        Assert.Equal("model_type", Fails("{" + Base.Replace("\"llama\"", "\"gpt2\"") + "}").Key);
    }
}

public class LlamaConfigRoundTripTests
{
    [Fact]
    public void Writing_and_reading_a_config_gives_the_same_architecture()
    {
        var original = new LlamaConfig
        {
            VocabSize = 77, HiddenSize = 48, IntermediateSize = 96, NumHiddenLayers = 3, NumAttentionHeads = 6, NumKeyValueHeads = 2, HeadDim = 8,
            RmsNormEps = 1e-5, RopeTheta = 500000, RopeScaling = new RopeScaling("llama3", 8, 1, 4, 8192), TieWordEmbeddings = true,
            EosTokenIds = [2, 9], PadTokenId = 0, SlidingWindow = 64, TorchDType = ScalarType.BFloat16,
        };
        var json = System.Text.Json.JsonSerializer.Serialize(original.ToJsonObject());
        var back = LlamaConfig.FromJson(JsonConfig.FromJson(json.Replace("\"model_type\":\"llama\"", "\"model_type\":\"mistral\"")), requireArchitecture: true);
        Assert.Equal(original with { EosTokenIds = [], ModelType = "mistral" }, back with { EosTokenIds = [] });
        Assert.Equal(original.EosTokenIds, back.EosTokenIds);
    }
}
