using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Vision;

namespace LlavaModal.Abstractions.Architectures;

/// <summary>
/// The registered parts a model folder is assembled from, looked up by the names its config and the load options use:
/// decoder families and vision towers by <c>model_type</c>, attention kernels and linear factories by name.
/// </summary>
public interface IArchitectureCatalog
{
    /// <summary>The decoder family for a <c>model_type</c>, or null.</summary>
    IDecoderFamily? FindDecoder(string modelType);

    /// <summary>The vision tower for a <c>vision_config.model_type</c>, or null.</summary>
    IVisionTowerFamily? FindVisionTower(string modelType);

    /// <summary>The attention kernel with this name, or null.</summary>
    IAttentionKernel? FindAttention(string name);

    /// <summary>The linear factory with this name, or null.</summary>
    ILinearFactory? FindLinear(string name);

    /// <summary>Registered decoder <c>model_type</c>s (for messages).</summary>
    IReadOnlyList<string> DecoderTypes { get; }

    /// <summary>Registered vision <c>model_type</c>s (for messages).</summary>
    IReadOnlyList<string> VisionTowerTypes { get; }

    /// <summary>Registered attention kernel names.</summary>
    IReadOnlyList<string> AttentionNames { get; }

    /// <summary>Registered linear factory names.</summary>
    IReadOnlyList<string> LinearNames { get; }
}
