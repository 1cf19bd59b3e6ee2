using static TorchSharp.torch;

namespace LlavaModal.Abstractions.Decoding;

/// <summary>
/// The facts about a decoder that generation, caching, batching, training and loading need, whatever the family:
/// every family's config (<c>LlamaConfig</c>, ...) implements it.
/// </summary>
public interface IDecoderConfig
{
    /// <summary>The family's <c>model_type</c> (<c>llama</c>, <c>mistral</c>), the registry key.</summary>
    string ModelType { get; }

    /// <summary>Rows of the embedding table.</summary>
    int VocabSize { get; }

    /// <summary>Model width (the projectors' output width).</summary>
    int HiddenSize { get; }

    /// <summary>Decoder layers (one KV-cache slot each).</summary>
    int NumHiddenLayers { get; }

    /// <summary>Key/value heads per layer.</summary>
    int NumKeyValueHeads { get; }

    /// <summary>Width of one head.</summary>
    int HeadDim { get; }

    /// <summary>Context length.</summary>
    int MaxPositionEmbeddings { get; }

    /// <summary>When true, <c>lm_head</c> shares the embedding table (a stored <c>lm_head.weight</c> is then ignored).</summary>
    bool TieWordEmbeddings { get; }

    /// <summary>Beginning-of-sequence id, if any.</summary>
    int? BosTokenId { get; }

    /// <summary>End-of-sequence ids.</summary>
    IReadOnlyList<int> EosTokenIds { get; }

    /// <summary>Padding id, if any.</summary>
    int? PadTokenId { get; }

    /// <summary>The dtype the weights were saved in (<c>torch_dtype</c>).</summary>
    ScalarType TorchDType { get; }

    /// <summary>
    /// Axes of a position id: 1 for ordinary rotary positions, 3 for Qwen2-VL's M-RoPE (time, height, width). Positions
    /// passed to <see cref="CausalLanguageModel.Forward"/> are [B, T] for 1 and [axes, B, T] otherwise.
    /// </summary>
    int PositionDimensions => 1;

    /// <summary>
    /// Attention reaches only this many most recent positions (Mistral's <c>sliding_window</c>), or null. The mask counts
    /// the window from the cache's longest row, so rows of unequal length past the window decode one at a time.
    /// </summary>
    int? SlidingWindow => null;

    /// <summary>The <c>config.json</c> keys of this configuration, as <c>save_pretrained</c> writes them.</summary>
    Dictionary<string, object?> ToJsonObject();
}
