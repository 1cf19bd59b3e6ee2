using LlavaModal.Abstractions.Decoding;
using LlavaModal.Core.Modules;

namespace LlavaModal.Decoder.Llama;

/// <summary>
/// What the LLaMA modules are built from: the sizes (with <see cref="IDecoderConfig"/>'s) and the few choices in which
/// LLaMA-style decoders differ. LLaMA and Mistral (<see cref="LlamaConfig"/>), Qwen2 (biases on q/k/v only, sliding
/// windows from a layer on) and Qwen3 (RMSNorm on each query and key head) are the same layers otherwise, so each
/// family's config answers these and the modules are shared.
/// </summary>
interface ILlamaLayers : IDecoderConfig
{
    /// <summary>MLP inner width.</summary>
    int IntermediateSize { get; }

    /// <summary>Query heads.</summary>
    int NumAttentionHeads { get; }

    /// <summary>RMSNorm epsilon (every norm of the decoder).</summary>
    double RmsNormEps { get; }

    /// <summary>RoPE base.</summary>
    double RopeTheta { get; }

    /// <summary>RoPE scaling, or null.</summary>
    RopeScaling? RopeScaling { get; }

    /// <summary>Biases on the MLP projections.</summary>
    bool MlpBias { get; }

    /// <summary>Whether the attention projection named <paramref name="projection"/> (<c>q_proj</c>, <c>k_proj</c>, <c>v_proj</c>, <c>o_proj</c>) has a bias.</summary>
    bool AttentionProjectionBias(string projection);

    /// <summary>True when each query and key head is RMS-normalised (<c>q_norm</c>, <c>k_norm</c>, width <see cref="IDecoderConfig.HeadDim"/>) before the rotation.</summary>
    bool NormalizesQueriesAndKeys { get; }

    /// <summary>Qwen2-VL's M-RoPE split of the rotary frequencies over the temporal, height and width position axes, or null for one-axis positions.</summary>
    IReadOnlyList<int>? MropeSection => null;

    /// <summary>The positions layer <paramref name="layer"/> attends back to (itself included), or null for full causal attention.</summary>
    int? SlidingWindowOf(int layer);

    /// <summary>The narrowest window of any layer: the engine's batching rule needs only whether and where rows can diverge.</summary>
    int? IDecoderConfig.SlidingWindow => Enumerable.Range(0, NumHiddenLayers).Select(SlidingWindowOf).Min();
}
