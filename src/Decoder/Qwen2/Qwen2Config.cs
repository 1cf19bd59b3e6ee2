using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Core.Modules;
using LlavaModal.Decoder.Llama;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Qwen2;

/// <summary>
/// The Qwen2 architecture's hyper-parameters (Qwen2, Qwen2.5 and Qwen1.5 checkpoints: <c>model_type</c> <c>qwen2</c>), read
/// from a <c>config.json</c> or the <c>text_config</c> of a LLaVA checkpoint. Absent keys take the <c>transformers</c>
/// <c>Qwen2Config</c> defaults. The layers are LLaMA's with biases on the query, key and value projections (not on the
/// output projection nor the MLP) and Qwen's sliding-window rule (<see cref="QwenSlidingWindows"/>).
/// </summary>
public sealed record Qwen2Config : ILlamaLayers
{
    /// <summary>The <c>model_type</c> of a Qwen2 config.</summary>
    public const string ModelTypeName = "qwen2";

    /// <summary>The architecture keys a top-level <c>config.json</c> must state (every <c>save_pretrained</c> writes them).</summary>
    public static readonly IReadOnlyList<string> RequiredKeys = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"];

    /// <summary><c>qwen2</c>.</summary>
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
    /// <summary>Per-head width: <c>hidden_size / num_attention_heads</c> unless the config states <c>head_dim</c>.</summary>
    public int HeadDim { get; init; } = 128;
    /// <summary>RMSNorm epsilon.</summary>
    public double RmsNormEps { get; init; } = 1e-6;
    /// <summary>RoPE base (<c>rope_theta</c>; 1e6 in most Qwen2 checkpoints).</summary>
    public double RopeTheta { get; init; } = 10000;
    /// <summary>RoPE scaling, or null.</summary>
    public RopeScaling? RopeScaling { get; init; }
    /// <summary>Context length.</summary>
    public int MaxPositionEmbeddings { get; init; } = 32768;
    /// <summary>When true, <c>lm_head</c> shares <c>embed_tokens</c>' weight (the small Qwen2 checkpoints).</summary>
    public bool TieWordEmbeddings { get; init; }
    /// <summary>The sliding-window keys.</summary>
    public QwenSlidingWindows Windows { get; init; } = new();
    /// <summary>Beginning-of-sequence id, if the config states one.</summary>
    public int? BosTokenId { get; init; }
    /// <summary>End-of-sequence ids the config states (generation_config.json usually does).</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    /// <summary>Padding id, if any.</summary>
    public int? PadTokenId { get; init; }
    /// <summary>The dtype the weights were saved in (<c>torch_dtype</c>).</summary>
    public ScalarType TorchDType { get; init; } = ScalarType.Float32;

    bool ILlamaLayers.MlpBias => false;

    /// <summary>Qwen2's projections: biases on q, k and v, none on o.</summary>
    bool ILlamaLayers.AttentionProjectionBias(string projection) => projection != "o_proj";

    bool ILlamaLayers.NormalizesQueriesAndKeys => false;

    int? ILlamaLayers.SlidingWindowOf(int layer) => Windows.WindowOf(layer);

    /// <summary>Reads a parsed config object (top level of a Qwen2 config, or a LLaVA <c>text_config</c>).</summary>
    /// <param name="json">The object.</param>
    /// <param name="requireArchitecture">True for a top-level config, where a missing size is an error.</param>
    /// <exception cref="ConfigException">A missing required key, an unsupported value or a malformed key, naming the key.</exception>
    public static Qwen2Config FromJson(JsonConfig json, bool requireArchitecture = false)
    {
        ArgumentNullException.ThrowIfNull(json);
        var shape = QwenShape.FromJson(json, ModelTypeName, requireArchitecture, RequiredKeys, defaultHeadDim: null);
        return new Qwen2Config
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
        var d = QwenShape.ToJsonObject(this, "Qwen2ForCausalLM");
        Windows.WriteTo(d);
        return d;
    }
}
