using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Core.Modules;

namespace LlavaModal.Encoders.Vision.Clip;

/// <summary>
/// The CLIP vision transformer's hyper-parameters, read from a LLaVA <c>vision_config</c> section or a standalone
/// CLIP <c>config.json</c>. Absent keys take the <c>transformers</c> <c>CLIPVisionConfig</c> defaults (ViT-B/32),
/// because llava-hf checkpoints only list the values that differ from them.
/// </summary>
public sealed record ClipVisionConfig
{
    /// <summary>The <c>model_type</c> of a CLIP vision config.</summary>
    public const string ModelTypeName = "clip_vision_model";

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
    public int PatchSize { get; init; } = 32;
    /// <summary>MLP activation name (<c>quick_gelu</c> for OpenAI CLIP).</summary>
    public string HiddenAct { get; init; } = "quick_gelu";
    /// <summary>LayerNorm epsilon.</summary>
    public double LayerNormEps { get; init; } = 1e-5;

    /// <summary>Per-head width.</summary>
    public int HeadDim => HiddenSize / NumAttentionHeads;
    /// <summary>Patches per side.</summary>
    public int GridSize => ImageSize / PatchSize;
    /// <summary>Patch tokens (without CLS).</summary>
    public int NumPatches => GridSize * GridSize;
    /// <summary>Sequence length: patches plus the CLS token.</summary>
    public int NumPositions => NumPatches + 1;

    /// <summary>
    /// Reads a standalone CLIP <c>config.json</c>: a <c>clip_vision_model</c> config, or a <c>clip</c> / <c>llava</c>
    /// config whose <c>vision_config</c> section is used.
    /// </summary>
    /// <exception cref="ConfigException">An unsupported or malformed value, naming the file and key.</exception>
    public static ClipVisionConfig Load(string configPath)
    {
        var json = JsonConfig.Load(configPath);
        return FromJson(json.Has("vision_config") || json.OptionalString("model_type") is "clip" or "llava" ? json.Section("vision_config") : json);
    }

    /// <summary>Reads a parsed CLIP vision config object (e.g. <c>JsonConfig.Section("vision_config")</c>).</summary>
    /// <exception cref="ConfigException">An unsupported or malformed value, naming the file and key.</exception>
    public static ClipVisionConfig FromJson(JsonConfig json)
    {
        var modelType = json.String("model_type", ModelTypeName);
        if (modelType != ModelTypeName)
            throw json.Error("model_type", $"'{modelType}' is not a CLIP vision model (expected clip_vision_model).");
        var act = json.String("hidden_act", "quick_gelu");
        if (act is not ("quick_gelu" or "gelu"))
            throw json.Error("hidden_act", $"'{act}' is not supported for CLIP (supported: quick_gelu, gelu).");

        int hidden = Positive(json, "hidden_size", 768);
        int heads = Positive(json, "num_attention_heads", 12);
        if (hidden % heads != 0)
            throw json.Error("hidden_size", $"{hidden} is not divisible by num_attention_heads ({heads}).");
        int image = Positive(json, "image_size", 224);
        int patch = Positive(json, "patch_size", 32);
        if (image % patch != 0)
            throw json.Error("image_size", $"{image} is not divisible by patch_size ({patch}).");
        double eps = json.Double("layer_norm_eps", 1e-5);
        if (!(eps > 0)) throw json.Error("layer_norm_eps", $"must be positive, got {eps}.");

        return new ClipVisionConfig
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
        };
    }

    /// <summary>The <c>config.json</c> object of this configuration (a LLaVA <c>vision_config</c>, or a <c>CLIPVisionModel</c>'s top level without its <c>architectures</c>).</summary>
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
    };

    internal Func<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> Activation => Activations.Get(HiddenAct);

    static int Positive(JsonConfig json, string key, int fallback)
    {
        var v = json.Int(key, fallback);
        return v > 0 ? v : throw json.Error(key, $"must be positive, got {v}.");
    }
}
