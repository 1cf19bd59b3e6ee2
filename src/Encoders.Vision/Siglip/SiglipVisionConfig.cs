using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Core.Modules;
using LlavaModal.Encoders.Vision.Clip;

namespace LlavaModal.Encoders.Vision.Siglip;

/// <summary>
/// The SigLIP vision transformer's hyper-parameters, read from a LLaVA <c>vision_config</c> section
/// (<c>model_type</c> <c>siglip_vision_model</c>). Absent keys take the <c>transformers</c> <c>SiglipVisionConfig</c>
/// defaults (ViT-B/16 at 224 pixels, tanh GELU, LayerNorm epsilon 1e-6).
/// </summary>
public sealed record SiglipVisionConfig
{
    /// <summary>The <c>model_type</c> of a SigLIP vision config.</summary>
    public const string ModelTypeName = "siglip_vision_model";

    /// <summary>Transformer width.</summary>
    public int HiddenSize { get; init; } = 768;
    /// <summary>MLP inner width.</summary>
    public int IntermediateSize { get; init; } = 3072;
    /// <summary>Encoder layers.</summary>
    public int NumHiddenLayers { get; init; } = 12;
    /// <summary>Attention heads.</summary>
    public int NumAttentionHeads { get; init; } = 12;
    /// <summary>Input channels.</summary>
    public int NumChannels { get; init; } = 3;
    /// <summary>Input side in pixels (square).</summary>
    public int ImageSize { get; init; } = 224;
    /// <summary>Patch side in pixels.</summary>
    public int PatchSize { get; init; } = 16;
    /// <summary>MLP activation name (<c>gelu_pytorch_tanh</c>).</summary>
    public string HiddenAct { get; init; } = "gelu_pytorch_tanh";
    /// <summary>LayerNorm epsilon.</summary>
    public double LayerNormEps { get; init; } = 1e-6;
    /// <summary>
    /// <c>vision_use_head</c>: whether the checkpoint's tower has SigLIP's attention-pooling head. LLaVA never uses the pooled
    /// output, so the head is not built and its tensors (<c>vision_model.head.*</c>) are skipped when present.
    /// </summary>
    public bool VisionUseHead { get; init; } = true;

    /// <summary>Patches per side.</summary>
    public int GridSize => ImageSize / PatchSize;
    /// <summary>Patch tokens (SigLIP has no class token): also the number of position embeddings.</summary>
    public int NumPatches => GridSize * GridSize;

    /// <summary>Reads a parsed SigLIP vision config object (e.g. <c>JsonConfig.Section("vision_config")</c>).</summary>
    /// <exception cref="ConfigException">An unsupported or malformed value, naming the file and key.</exception>
    public static SiglipVisionConfig FromJson(JsonConfig json)
    {
        ArgumentNullException.ThrowIfNull(json);
        var modelType = json.String("model_type", ModelTypeName);
        if (modelType != ModelTypeName)
            throw json.Error("model_type", $"'{modelType}' is not a SigLIP vision model (expected {ModelTypeName}).");
        var act = json.String("hidden_act", "gelu_pytorch_tanh");
        if (!Activations.Supported.Contains(act))
            throw json.Error("hidden_act", $"'{act}' is not supported (supported: {string.Join(", ", Activations.Supported)}).");

        int hidden = Positive(json, "hidden_size", 768);
        int heads = Positive(json, "num_attention_heads", 12);
        if (hidden % heads != 0)
            throw json.Error("hidden_size", $"{hidden} is not divisible by num_attention_heads ({heads}).");
        int image = Positive(json, "image_size", 224);
        int patch = Positive(json, "patch_size", 16);
        // SigLIP-so400m-patch14-384 (LLaVA-OneVision, Interleave) has 384 / 14: the patch convolution keeps 27 x 27 patches and drops the last 6 pixels, as the reference does.
        if (image < patch)
            throw json.Error("image_size", $"{image} is smaller than patch_size ({patch}).");
        double eps = json.Double("layer_norm_eps", 1e-6);
        if (!(eps > 0)) throw json.Error("layer_norm_eps", $"must be positive, got {eps}.");

        return new SiglipVisionConfig
        {
            HiddenSize = hidden,
            IntermediateSize = Positive(json, "intermediate_size", 3072),
            NumHiddenLayers = Positive(json, "num_hidden_layers", 12),
            NumAttentionHeads = heads,
            NumChannels = Positive(json, "num_channels", 3),
            ImageSize = image,
            PatchSize = patch,
            HiddenAct = act,
            LayerNormEps = eps,
            VisionUseHead = json.Bool("vision_use_head", true),
        };
    }

    /// <summary>The <c>vision_config</c> object of this configuration. <c>vision_use_head</c> is written false: the head is never saved.</summary>
    public Dictionary<string, object?> ToJsonObject() => new()
    {
        ["model_type"] = ModelTypeName,
        ["hidden_size"] = HiddenSize,
        ["intermediate_size"] = IntermediateSize,
        ["num_hidden_layers"] = NumHiddenLayers,
        ["num_attention_heads"] = NumAttentionHeads,
        ["num_channels"] = NumChannels,
        ["image_size"] = ImageSize,
        ["patch_size"] = PatchSize,
        ["hidden_act"] = HiddenAct,
        ["layer_norm_eps"] = LayerNormEps,
        ["vision_use_head"] = false,
    };

    /// <summary>
    /// The encoder's shape in CLIP's terms: SigLIP's encoder layers are CLIP's (pre-norm, biased q/k/v/out projections
    /// with queries scaled by head_dim^-0.5, fc1/fc2 MLP), only the activation and epsilon differ, which this carries.
    /// </summary>
    internal ClipVisionConfig EncoderShape => new()
    {
        HiddenSize = HiddenSize,
        IntermediateSize = IntermediateSize,
        NumHiddenLayers = NumHiddenLayers,
        NumAttentionHeads = NumAttentionHeads,
        HiddenAct = HiddenAct,
        LayerNormEps = LayerNormEps,
    };

    static int Positive(JsonConfig json, string key, int fallback)
    {
        var v = json.Int(key, fallback);
        return v > 0 ? v : throw json.Error(key, $"must be positive, got {v}.");
    }
}
