using System.Text.Json;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Core.Modules;
using LlavaModal.Decoder.Llama;
using LlavaModal.Decoder.Qwen2;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Qwen2VL;

/// <summary>
/// The language model of a Qwen2-VL checkpoint (<c>model_type</c> <c>qwen2_vl</c>, keys at the top of <c>config.json</c>
/// next to <c>vision_config</c>): Qwen2's layers with M-RoPE, positions on three axes (temporal, height, width) whose
/// rotary frequencies are split by <c>rope_scaling.mrope_section</c>. Absent keys take transformers'
/// <c>Qwen2VLConfig</c> defaults.
/// </summary>
public sealed record Qwen2VLConfig : ILlamaLayers
{
    /// <summary>The <c>model_type</c> of a Qwen2-VL config.</summary>
    public const string ModelTypeName = "qwen2_vl";

    /// <summary><c>qwen2_vl</c>.</summary>
    public string ModelType => ModelTypeName;
    /// <summary>Vocabulary size.</summary>
    public int VocabSize { get; init; } = 152064;
    /// <summary>Model width.</summary>
    public int HiddenSize { get; init; } = 8192;
    /// <summary>MLP inner width.</summary>
    public int IntermediateSize { get; init; } = 29568;
    /// <summary>Decoder layers.</summary>
    public int NumHiddenLayers { get; init; } = 80;
    /// <summary>Query heads.</summary>
    public int NumAttentionHeads { get; init; } = 64;
    /// <summary>Key/value heads.</summary>
    public int NumKeyValueHeads { get; init; } = 8;
    /// <summary>Per-head width: <c>hidden_size / num_attention_heads</c>.</summary>
    public int HeadDim { get; init; } = 128;
    /// <summary>RMSNorm epsilon.</summary>
    public double RmsNormEps { get; init; } = 1e-5;
    /// <summary>RoPE base.</summary>
    public double RopeTheta { get; init; } = 1e6;
    /// <summary>How many of the <c>HeadDim / 2</c> rotary frequencies follow the temporal, height and width axes.</summary>
    public IReadOnlyList<int> MropeSection { get; init; } = [16, 24, 24];
    /// <summary>Context length.</summary>
    public int MaxPositionEmbeddings { get; init; } = 32768;
    /// <summary>When true, <c>lm_head</c> shares <c>embed_tokens</c>' weight (Qwen2-VL-2B).</summary>
    public bool TieWordEmbeddings { get; init; }
    /// <summary>The sliding-window keys (Qwen's rule; off in released checkpoints).</summary>
    public QwenSlidingWindows Windows { get; init; } = new();
    /// <summary>Beginning-of-sequence id, if any.</summary>
    public int? BosTokenId { get; init; }
    /// <summary>End-of-sequence ids.</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    /// <summary>Padding id, if any.</summary>
    public int? PadTokenId { get; init; }
    /// <summary>The dtype the weights were saved in.</summary>
    public ScalarType TorchDType { get; init; } = ScalarType.Float32;

    /// <summary>Three: temporal, height and width positions (M-RoPE).</summary>
    public int PositionDimensions => 3;

    RopeScaling? ILlamaLayers.RopeScaling => null;

    bool ILlamaLayers.MlpBias => false;

    bool ILlamaLayers.AttentionProjectionBias(string projection) => projection != "o_proj";

    bool ILlamaLayers.NormalizesQueriesAndKeys => false;

    int? ILlamaLayers.SlidingWindowOf(int layer) => Windows.WindowOf(layer);

    /// <summary>Reads the top level of a Qwen2-VL <c>config.json</c>.</summary>
    /// <exception cref="ConfigException">A missing required key, an unsupported value or a malformed key, naming the key.</exception>
    public static Qwen2VLConfig FromJson(JsonConfig json, bool requireArchitecture = true)
    {
        ArgumentNullException.ThrowIfNull(json);
        var shape = QwenShape.FromJson(json, ModelTypeName, requireArchitecture, Qwen2Config.RequiredKeys, defaultHeadDim: null);
        return new Qwen2VLConfig
        {
            VocabSize = shape.VocabSize,
            HiddenSize = shape.HiddenSize,
            IntermediateSize = shape.IntermediateSize,
            NumHiddenLayers = shape.NumHiddenLayers,
            NumAttentionHeads = shape.NumAttentionHeads,
            NumKeyValueHeads = shape.NumKeyValueHeads,
            HeadDim = shape.HeadDim,
            RmsNormEps = json.Double("rms_norm_eps", 1e-5),
            RopeTheta = json.Double("rope_theta", 1e6),
            MropeSection = ReadMropeSection(json, shape.HeadDim),
            MaxPositionEmbeddings = shape.MaxPositionEmbeddings,
            TieWordEmbeddings = json.Bool("tie_word_embeddings", false),
            Windows = QwenSlidingWindows.FromJson(json, shape.NumHiddenLayers),
            BosTokenId = json.OptionalInt("bos_token_id"),
            EosTokenIds = json.IntOrList("eos_token_id"),
            PadTokenId = json.OptionalInt("pad_token_id"),
            TorchDType = DTypes.FromConfig(json),
        };
    }

    /// <summary><c>rope_scaling</c>: type <c>mrope</c> (or <c>default</c>, as transformers rewrites it on load) with <c>mrope_section</c> adding up to <c>head_dim / 2</c>.</summary>
    static IReadOnlyList<int> ReadMropeSection(JsonConfig json, int headDim)
    {
        if (!json.Has("rope_scaling")) throw json.Error("rope_scaling", "required but missing: Qwen2-VL needs {\"type\": \"mrope\", \"mrope_section\": [t, h, w]}.");
        var scaling = json.Section("rope_scaling");
        var type = scaling.OptionalString("rope_type") ?? scaling.OptionalString("type") ?? "mrope";
        if (type is not ("mrope" or "default"))
            throw scaling.Error("type", $"'{type}' is not supported for Qwen2-VL (its rope_scaling is mrope).");
        if (!scaling.TryGet("mrope_section", out var value) || value.ValueKind != JsonValueKind.Array)
            throw scaling.Error("mrope_section", "required: three counts of rotary frequencies (temporal, height, width).");
        var section = scaling.IntOrList("mrope_section");
        if (section.Count != 3 || section.Any(n => n <= 0) || section.Sum() != headDim / 2)
            throw scaling.Error("mrope_section", $"[{string.Join(", ", section)}] must be three positive counts adding up to head_dim / 2 = {headDim / 2}.");
        return section;
    }

    /// <summary>The <c>config.json</c> keys of the language model, as <c>save_pretrained</c> writes them (inverse of <see cref="FromJson"/>).</summary>
    public Dictionary<string, object?> ToJsonObject()
    {
        var d = QwenShape.ToJsonObject(this, "Qwen2VLForConditionalGeneration");
        d["rope_scaling"] = new Dictionary<string, object> { ["type"] = "mrope", ["mrope_section"] = MropeSection };
        Windows.WriteTo(d);
        return d;
    }
}
