using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Core.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Llama;

/// <summary>
/// The LLaMA architecture's hyper-parameters, read from a Hugging Face <c>config.json</c> (<c>model_type</c>
/// <c>llama</c> or <c>mistral</c>, or the <c>text_config</c> of a LLaVA checkpoint). Absent keys take the
/// <c>transformers</c> <c>LlamaConfig</c> defaults, as the reference does for nested configs.
/// </summary>
public sealed record LlamaConfig : ILlamaLayers
{
    /// <summary><c>llama</c> or <c>mistral</c>.</summary>
    public string ModelType { get; init; } = "llama";
    /// <summary>Vocabulary size (rows of <c>embed_tokens</c>).</summary>
    public int VocabSize { get; init; } = 32000;
    /// <summary>Model width.</summary>
    public int HiddenSize { get; init; } = 4096;
    /// <summary>MLP inner width.</summary>
    public int IntermediateSize { get; init; } = 11008;
    /// <summary>Decoder layers.</summary>
    public int NumHiddenLayers { get; init; } = 32;
    /// <summary>Query heads.</summary>
    public int NumAttentionHeads { get; init; } = 32;
    /// <summary>Key/value heads (GQA when fewer than query heads, MQA when 1).</summary>
    public int NumKeyValueHeads { get; init; } = 32;
    /// <summary>Per-head width (defaults to hidden / heads).</summary>
    public int HeadDim { get; init; } = 128;
    /// <summary>RMSNorm epsilon.</summary>
    public double RmsNormEps { get; init; } = 1e-6;
    /// <summary>RoPE base.</summary>
    public double RopeTheta { get; init; } = 10000;
    /// <summary>RoPE scaling, or null.</summary>
    public RopeScaling? RopeScaling { get; init; }
    /// <summary>Context length.</summary>
    public int MaxPositionEmbeddings { get; init; } = 2048;
    /// <summary>When true, <c>lm_head</c> shares <c>embed_tokens</c>' weight.</summary>
    public bool TieWordEmbeddings { get; init; }
    /// <summary>Biases on q/k/v/o projections.</summary>
    public bool AttentionBias { get; init; }
    /// <summary>Biases on the MLP projections.</summary>
    public bool MlpBias { get; init; }
    /// <summary>Sliding-window attention span (Mistral), or null for full attention.</summary>
    public int? SlidingWindow { get; init; }
    /// <summary>Beginning-of-sequence id.</summary>
    public int? BosTokenId { get; init; } = 1;
    /// <summary>End-of-sequence ids (a config may list several).</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [2];
    /// <summary>Padding id, if any.</summary>
    public int? PadTokenId { get; init; }
    /// <summary>The dtype the weights were saved in (<c>torch_dtype</c>).</summary>
    public ScalarType TorchDType { get; init; } = ScalarType.Float32;

    /// <summary>Query heads per key/value head.</summary>
    public int KeyValueGroups => NumAttentionHeads / NumKeyValueHeads;

    bool ILlamaLayers.AttentionProjectionBias(string projection) => AttentionBias;

    bool ILlamaLayers.NormalizesQueriesAndKeys => false;

    /// <summary>Mistral's window holds for every layer.</summary>
    int? ILlamaLayers.SlidingWindowOf(int layer) => SlidingWindow;

    /// <summary>The architecture keys a top-level <c>config.json</c> must state (every <c>save_pretrained</c> writes them).</summary>
    public static readonly IReadOnlyList<string> RequiredKeys = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"];

    /// <summary>Reads a LLaMA <c>config.json</c> file (the architecture keys in <see cref="RequiredKeys"/> must be present).</summary>
    public static LlamaConfig Load(string configPath) => FromJson(JsonConfig.Load(configPath), requireArchitecture: true);

    /// <summary>Reads a parsed config object (top level of a LLaMA config, or a LLaVA <c>text_config</c>).</summary>
    /// <param name="json">The object.</param>
    /// <param name="requireArchitecture">
    /// True for a top-level config, where a missing size is an error; false for a nested <c>text_config</c>, which
    /// the reference writes with only the values that differ from the class defaults.
    /// </param>
    /// <exception cref="ConfigException">A missing required key, an unsupported value or a malformed key, naming the key.</exception>
    public static LlamaConfig FromJson(JsonConfig json, bool requireArchitecture = false)
    {
        if (requireArchitecture)
            foreach (var key in RequiredKeys)
                if (!json.Has(key)) throw json.Error(key, "required but missing.");
        var modelType = json.String("model_type", "llama");
        if (modelType is not ("llama" or "mistral"))
            throw json.Error("model_type", $"'{modelType}' is not a LLaMA-architecture model (supported: llama, mistral).");
        var activation = json.String("hidden_act", "silu");
        if (activation != "silu")
            throw json.Error("hidden_act", $"'{activation}' is not supported (LLaMA uses silu).");

        int hidden = json.Int("hidden_size", 4096);
        int heads = json.Int("num_attention_heads", 32);
        int kvHeads = json.Int("num_key_value_heads", heads);
        int headDim = json.Int("head_dim", heads > 0 ? hidden / heads : 0);
        if (hidden <= 0) throw json.Error("hidden_size", $"must be positive, got {hidden}.");
        if (heads <= 0) throw json.Error("num_attention_heads", $"must be positive, got {heads}.");
        if (kvHeads <= 0 || heads % kvHeads != 0)
            throw json.Error("num_key_value_heads", $"{kvHeads} must be positive and divide num_attention_heads ({heads}).");
        if (headDim <= 0 || headDim % 2 != 0) throw json.Error("head_dim", $"must be a positive even number, got {headDim}.");
        if (!json.Has("head_dim") && hidden % heads != 0)
            throw json.Error("hidden_size", $"{hidden} is not divisible by num_attention_heads ({heads}).");

        var config = new LlamaConfig
        {
            VocabSize = Positive(json, "vocab_size", 32000),
            HiddenSize = hidden,
            IntermediateSize = Positive(json, "intermediate_size", 11008),
            NumHiddenLayers = Positive(json, "num_hidden_layers", 32),
            NumAttentionHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDim = headDim,
            RmsNormEps = PositiveNumber(json, "rms_norm_eps", 1e-6),
            RopeTheta = PositiveNumber(json, "rope_theta", 10000),
            RopeScaling = RopeScaling.FromJson(json),
            MaxPositionEmbeddings = Positive(json, "max_position_embeddings", 2048),
            TieWordEmbeddings = json.Bool("tie_word_embeddings", false),
            AttentionBias = json.Bool("attention_bias", false),
            MlpBias = json.Bool("mlp_bias", false),
            SlidingWindow = json.OptionalInt("sliding_window") is int window ? (window > 0 ? window : throw json.Error("sliding_window", $"must be positive (or null for full attention), got {window}.")) : null,
            BosTokenId = json.OptionalInt("bos_token_id") ?? 1,
            EosTokenIds = json.Has("eos_token_id") ? json.IntOrList("eos_token_id") : [2],
            PadTokenId = json.OptionalInt("pad_token_id"),
            TorchDType = DTypes.FromConfig(json),
            ModelType = modelType,
        };
        return config;
    }

    /// <summary>The <c>config.json</c> keys of this configuration, as <c>save_pretrained</c> writes them (inverse of <see cref="FromJson"/>).</summary>
    public Dictionary<string, object?> ToJsonObject()
    {
        var d = new Dictionary<string, object?>
        {
            ["architectures"] = new[] { ModelType == "mistral" ? "MistralForCausalLM" : "LlamaForCausalLM" },
            ["model_type"] = ModelType,
            ["vocab_size"] = VocabSize,
            ["hidden_size"] = HiddenSize,
            ["intermediate_size"] = IntermediateSize,
            ["num_hidden_layers"] = NumHiddenLayers,
            ["num_attention_heads"] = NumAttentionHeads,
            ["num_key_value_heads"] = NumKeyValueHeads,
            ["head_dim"] = HeadDim,
            ["hidden_act"] = "silu",
            ["rms_norm_eps"] = RmsNormEps,
            ["rope_theta"] = RopeTheta,
            ["rope_scaling"] = RopeScaling?.ToJsonObject(),
            ["max_position_embeddings"] = MaxPositionEmbeddings,
            ["tie_word_embeddings"] = TieWordEmbeddings,
            ["attention_bias"] = AttentionBias,
            ["mlp_bias"] = MlpBias,
            ["bos_token_id"] = BosTokenId,
            ["eos_token_id"] = EosTokenIds.Count == 1 ? EosTokenIds[0] : EosTokenIds,
            ["torch_dtype"] = DTypes.ConfigName(TorchDType),
        };
        if (PadTokenId is int pad) d["pad_token_id"] = pad;
        if (SlidingWindow is int window) d["sliding_window"] = window;
        return d;
    }

    /// <summary>A positive number: a negative or zero <c>rms_norm_eps</c> or <c>rope_theta</c> makes every activation NaN.</summary>
    static double PositiveNumber(JsonConfig json, string key, double fallback)
    {
        var v = json.Double(key, fallback);
        return v > 0 ? v : throw json.Error(key, $"must be positive, got {v}.");
    }

    static int Positive(JsonConfig json, string key, int fallback)
    {
        var v = json.Int(key, fallback);
        return v > 0 ? v : throw json.Error(key, $"must be positive, got {v}.");
    }
}
