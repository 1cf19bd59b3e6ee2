using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Core.Modules;
using LlavaModal.Decoder.Llama;
using LlavaModal.Decoder.Qwen2;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Qwen3;

/// <summary>
/// The Qwen3 architecture's hyper-parameters (dense Qwen3 checkpoints: <c>model_type</c> <c>qwen3</c>), read from a
/// <c>config.json</c> or a nested <c>text_config</c>. Absent keys take the <c>transformers</c> <c>Qwen3Config</c>
/// defaults, among them <c>head_dim</c> 128 whatever the width. The layers are Qwen2's with an RMSNorm over each query
/// and key head before the rotation (<c>q_norm</c>, <c>k_norm</c>) and projection biases only when <c>attention_bias</c> says so.
/// </summary>
public sealed record Qwen3Config : ILlamaLayers
{
    /// <summary>The <c>model_type</c> of a Qwen3 config.</summary>
    public const string ModelTypeName = "qwen3";

    /// <summary>The architecture keys a top-level <c>config.json</c> must state (every <c>save_pretrained</c> writes them).</summary>
    public static readonly IReadOnlyList<string> RequiredKeys = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"];

    /// <summary><c>qwen3</c>.</summary>
    public string ModelType => ModelTypeName;
    /// <summary>Vocabulary size (rows of <c>embed_tokens</c>).</summary>
    public int VocabSize { get; init; } = 151936;
    /// <summary>Model width.</summary>
    public int HiddenSize { get; init; } = 4096;
    /// <summary>MLP inner width.</summary>
    public int IntermediateSize { get; init; } = 22016;
    /// <summary>Decoder layers.</summary>
    public int NumHiddenLayers { get; init; } = 32;
    /// <summary>Query heads.</summary>
    public int NumAttentionHeads { get; init; } = 32;
    /// <summary>Key/value heads.</summary>
    public int NumKeyValueHeads { get; init; } = 32;
    /// <summary>Per-head width (<c>head_dim</c>, 128 when absent; heads × head_dim need not equal the width).</summary>
    public int HeadDim { get; init; } = 128;
    /// <summary>RMSNorm epsilon (the layer norms and <c>q_norm</c> / <c>k_norm</c>).</summary>
    public double RmsNormEps { get; init; } = 1e-6;
    /// <summary>RoPE base.</summary>
    public double RopeTheta { get; init; } = 10000;
    /// <summary>RoPE scaling, or null.</summary>
    public RopeScaling? RopeScaling { get; init; }
    /// <summary>Context length.</summary>
    public int MaxPositionEmbeddings { get; init; } = 32768;
    /// <summary>When true, <c>lm_head</c> shares <c>embed_tokens</c>' weight.</summary>
    public bool TieWordEmbeddings { get; init; }
    /// <summary>Biases on q/k/v/o projections (<c>attention_bias</c>, false by default).</summary>
    public bool AttentionBias { get; init; }
    /// <summary>The sliding-window keys (Qwen2's rule).</summary>
    public QwenSlidingWindows Windows { get; init; } = new();
    /// <summary>Beginning-of-sequence id, if the config states one.</summary>
    public int? BosTokenId { get; init; }
    /// <summary>End-of-sequence ids the config states.</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    /// <summary>Padding id, if any.</summary>
    public int? PadTokenId { get; init; }
    /// <summary>The dtype the weights were saved in (<c>torch_dtype</c>).</summary>
    public ScalarType TorchDType { get; init; } = ScalarType.Float32;

    bool ILlamaLayers.MlpBias => false;

    bool ILlamaLayers.AttentionProjectionBias(string projection) => AttentionBias;

    bool ILlamaLayers.NormalizesQueriesAndKeys => true;

    int? ILlamaLayers.SlidingWindowOf(int layer) => Windows.WindowOf(layer);

    /// <summary>Reads a parsed config object (top level of a Qwen3 config, or a nested <c>text_config</c>).</summary>
    /// <param name="json">The object.</param>
    /// <param name="requireArchitecture">True for a top-level config, where a missing size is an error.</param>
    /// <exception cref="ConfigException">A missing required key, an unsupported value or a malformed key, naming the key.</exception>
    public static Qwen3Config FromJson(JsonConfig json, bool requireArchitecture = false)
    {
        ArgumentNullException.ThrowIfNull(json);
        var shape = QwenShape.FromJson(json, ModelTypeName, requireArchitecture, RequiredKeys, defaultHeadDim: 128);
        return new Qwen3Config
        {
            VocabSize = shape.VocabSize,
            HiddenSize = shape.HiddenSize,
            IntermediateSize = shape.IntermediateSize,
            NumHiddenLayers = shape.NumHiddenLayers,
            NumAttentionHeads = shape.NumAttentionHeads,
            NumKeyValueHeads = shape.NumKeyValueHeads,
            HeadDim = shape.HeadDim,
            RmsNormEps = json.Double("rms_norm_eps", 1e-6),
            RopeTheta = json.Double("rope_theta", 10000),
            RopeScaling = RopeScaling.FromJson(json),
            MaxPositionEmbeddings = shape.MaxPositionEmbeddings,
            TieWordEmbeddings = json.Bool("tie_word_embeddings", false),
            AttentionBias = json.Bool("attention_bias", false),
            Windows = QwenSlidingWindows.FromJson(json, shape.NumHiddenLayers),
            BosTokenId = json.OptionalInt("bos_token_id"),
            EosTokenIds = json.IntOrList("eos_token_id"),
            PadTokenId = json.OptionalInt("pad_token_id"),
            TorchDType = DTypes.FromConfig(json),
        };
    }

    /// <summary>The <c>config.json</c> keys of this configuration, as <c>save_pretrained</c> writes them (inverse of <see cref="FromJson"/>).</summary>
    public Dictionary<string, object?> ToJsonObject()
    {
        var d = QwenShape.ToJsonObject(this, "Qwen3ForCausalLM");
        d["attention_bias"] = AttentionBias;
        Windows.WriteTo(d);
        return d;
    }
}
