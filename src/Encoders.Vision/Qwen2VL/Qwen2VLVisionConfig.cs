using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Modules;

namespace LlavaModal.Encoders.Vision.Qwen2VL;

/// <summary>
/// The <c>vision_config</c> of a Qwen2-VL checkpoint: a ViT over patches of <c>temporal_patch_size</c> frames x
/// <c>patch_size</c>² pixels, <c>depth</c> blocks of width <c>embed_dim</c>, and a merger that joins each
/// <c>spatial_merge_size</c>² window of patches into one vector of the decoder's width (<c>hidden_size</c>). Absent keys take
/// transformers' <c>Qwen2VLVisionConfig</c> defaults (the 7B tower).
/// </summary>
public sealed record Qwen2VLVisionConfig
{
    /// <summary>Blocks.</summary>
    public int Depth { get; init; } = 32;
    /// <summary>Width of the blocks.</summary>
    public int EmbedDim { get; init; } = 1280;
    /// <summary>Width of the merger's output: the decoder's hidden size.</summary>
    public int HiddenSize { get; init; } = 3584;
    /// <summary>Activation of the blocks' MLP.</summary>
    public string HiddenAct { get; init; } = "quick_gelu";
    /// <summary>MLP width over <see cref="EmbedDim"/>.</summary>
    public double MlpRatio { get; init; } = 4;
    /// <summary>Attention heads.</summary>
    public int NumHeads { get; init; } = 16;
    /// <summary>Input channels.</summary>
    public int InChannels { get; init; } = 3;
    /// <summary>Side of a patch in pixels.</summary>
    public int PatchSize { get; init; } = 14;
    /// <summary>Side of the window of patches the merger joins.</summary>
    public int SpatialMergeSize { get; init; } = 2;
    /// <summary>Frames in one patch.</summary>
    public int TemporalPatchSize { get; init; } = 2;

    /// <summary>Width of one head.</summary>
    public int HeadDim => EmbedDim / NumHeads;

    /// <summary>Inner width of the blocks' MLP (<c>int(embed_dim * mlp_ratio)</c>).</summary>
    public int MlpDim => (int)(EmbedDim * MlpRatio);

    /// <summary>Values of one flattened patch: channels x frames x patch².</summary>
    public int PatchValues => InChannels * TemporalPatchSize * PatchSize * PatchSize;

    /// <summary>Reads <c>vision_config</c>, checking its sizes against the checkpoint before anything is built.</summary>
    /// <exception cref="ConfigException">A malformed or impossible value, naming the key.</exception>
    public static Qwen2VLVisionConfig FromJson(JsonConfig json, IWeightSource weights)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(weights);
        var c = new Qwen2VLVisionConfig();
        c = c with
        {
            Depth = Positive(json, "depth", c.Depth),
            EmbedDim = Positive(json, "embed_dim", c.EmbedDim),
            HiddenSize = Positive(json, "hidden_size", c.HiddenSize),
            HiddenAct = json.String("hidden_act", c.HiddenAct),
            MlpRatio = json.Double("mlp_ratio", c.MlpRatio),
            NumHeads = Positive(json, "num_heads", c.NumHeads),
            InChannels = Positive(json, "in_channels", c.InChannels),
            PatchSize = Positive(json, "patch_size", c.PatchSize),
            SpatialMergeSize = Positive(json, "spatial_merge_size", c.SpatialMergeSize),
            TemporalPatchSize = Positive(json, "temporal_patch_size", c.TemporalPatchSize),
        };
        if (!Activations.Supported.Contains(c.HiddenAct))
            throw json.Error("hidden_act", $"'{c.HiddenAct}' is not supported (supported: {string.Join(", ", Activations.Supported)}).");
        if (c.EmbedDim % c.NumHeads != 0 || c.HeadDim % 4 != 0)
            throw json.Error("num_heads", $"{c.NumHeads} heads must split embed_dim {c.EmbedDim} into widths divisible by 4 (the 2-D rotary halves each head twice).");
        if (!(c.MlpRatio > 0) || c.MlpDim <= 0)
            throw json.Error("mlp_ratio", $"must be positive, got {c.MlpRatio}.");

        // Sizes the weights cannot hold are refused before the tower allocates them (the defaults build a 0.6 B-parameter tower).
        long tensors = 0, largest = 0;
        foreach (var name in weights.Names)
        {
            tensors++;
            foreach (var d in weights.Shape(name)) largest = Math.Max(largest, d);
        }
        if (c.Depth > tensors) throw json.Error("depth", $"claims {c.Depth} blocks but the checkpoint in {weights.Directory} holds only {tensors} tensors; the config does not describe these weights.");
        foreach (var (key, value) in new[] { ("embed_dim", (long)c.EmbedDim), ("hidden_size", c.HiddenSize), ("mlp_ratio", c.MlpDim), ("patch_size", c.PatchSize) })
            if (value > largest) throw json.Error(key, $"claims {value} but no tensor of the checkpoint in {weights.Directory} has a dimension above {largest}; the config does not describe these weights.");
        if ((long)c.EmbedDim * c.SpatialMergeSize * c.SpatialMergeSize > largest)
            throw json.Error("spatial_merge_size", $"{c.SpatialMergeSize}² windows of {c.EmbedDim} give a merger wider than any tensor of the checkpoint ({largest}).");
        return c;
    }

    static int Positive(JsonConfig json, string key, int fallback)
    {
        int v = json.Int(key, fallback);
        return v > 0 ? v : throw json.Error(key, $"must be positive, got {v}.");
    }
}
