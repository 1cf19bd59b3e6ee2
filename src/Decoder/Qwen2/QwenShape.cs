using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Decoder.Llama;

namespace LlavaModal.Decoder.Qwen2;

/// <summary>
/// The sizes Qwen2 and Qwen3 configs share, with their common <c>transformers</c> defaults and checks, and the keys
/// both write back. Each family's config adds what differs (Qwen3: <c>head_dim</c> 128 by default, <c>attention_bias</c>).
/// </summary>
sealed record QwenShape(int VocabSize, int HiddenSize, int IntermediateSize, int NumHiddenLayers, int NumAttentionHeads, int NumKeyValueHeads, int HeadDim, int MaxPositionEmbeddings)
{
    /// <param name="json">The config object.</param>
    /// <param name="modelType">The family's <c>model_type</c>; another value is an error.</param>
    /// <param name="requireArchitecture">True for a top-level config, where a missing size is an error.</param>
    /// <param name="requiredKeys">The keys a top-level config must state.</param>
    /// <param name="defaultHeadDim">The family's <c>head_dim</c> default, or null for <c>hidden_size / num_attention_heads</c>.</param>
    /// <exception cref="ConfigException">A missing, malformed or unsupported value, naming the key.</exception>
    public static QwenShape FromJson(JsonConfig json, string modelType, bool requireArchitecture, IReadOnlyList<string> requiredKeys, int? defaultHeadDim)
    {
        if (requireArchitecture)
            foreach (var key in requiredKeys)
                if (!json.Has(key)) throw json.Error(key, "required but missing.");
        var declared = json.String("model_type", modelType);
        if (declared != modelType) throw json.Error("model_type", $"'{declared}' is not a {modelType} config.");
        var activation = json.String("hidden_act", "silu");
        if (activation != "silu") throw json.Error("hidden_act", $"'{activation}' is not supported ({modelType} uses silu).");

        int hidden = Positive(json, "hidden_size", 4096);
        int heads = Positive(json, "num_attention_heads", 32);
        int kvHeads = json.Int("num_key_value_heads", heads);
        if (kvHeads <= 0 || heads % kvHeads != 0)
            throw json.Error("num_key_value_heads", $"{kvHeads} must be positive and divide num_attention_heads ({heads}).");
        if (defaultHeadDim is null && !json.Has("head_dim") && hidden % heads != 0)
            throw json.Error("hidden_size", $"{hidden} is not divisible by num_attention_heads ({heads}).");
        int headDim = json.Int("head_dim", defaultHeadDim ?? hidden / heads);
        if (headDim <= 0 || headDim % 2 != 0) throw json.Error("head_dim", $"must be a positive even number, got {headDim}.");
        return new QwenShape(
            Positive(json, "vocab_size", 151936), hidden, Positive(json, "intermediate_size", 22016), Positive(json, "num_hidden_layers", 32),
            heads, kvHeads, headDim, Positive(json, "max_position_embeddings", 32768));
    }

    /// <summary>The keys both families write (sizes, activation, norms, RoPE, embeddings, special ids, dtype).</summary>
    public static Dictionary<string, object?> ToJsonObject<TConfig>(TConfig c, string architecture) where TConfig : ILlamaLayers
    {
        var d = new Dictionary<string, object?>
        {
            ["architectures"] = new[] { architecture },
            ["model_type"] = c.ModelType,
            ["vocab_size"] = c.VocabSize,
            ["hidden_size"] = c.HiddenSize,
            ["intermediate_size"] = c.IntermediateSize,
            ["num_hidden_layers"] = c.NumHiddenLayers,
            ["num_attention_heads"] = c.NumAttentionHeads,
            ["num_key_value_heads"] = c.NumKeyValueHeads,
            ["head_dim"] = c.HeadDim,
            ["hidden_act"] = "silu",
            ["rms_norm_eps"] = c.RmsNormEps,
            ["rope_theta"] = c.RopeTheta,
            ["rope_scaling"] = c.RopeScaling?.ToJsonObject(),
            ["max_position_embeddings"] = c.MaxPositionEmbeddings,
            ["tie_word_embeddings"] = c.TieWordEmbeddings,
            ["torch_dtype"] = DTypes.ConfigName(c.TorchDType),
        };
        if (c.BosTokenId is int bos) d["bos_token_id"] = bos;
        if (c.EosTokenIds.Count > 0) d["eos_token_id"] = c.EosTokenIds.Count == 1 ? c.EosTokenIds[0] : c.EosTokenIds;
        if (c.PadTokenId is int pad) d["pad_token_id"] = pad;
        return d;
    }

    static int Positive(JsonConfig json, string key, int fallback)
    {
        var v = json.Int(key, fallback);
        return v > 0 ? v : throw json.Error(key, $"must be positive, got {v}.");
    }
}
