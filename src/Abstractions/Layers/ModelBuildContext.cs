using static TorchSharp.torch;

namespace LlavaModal.Abstractions.Layers;

/// <summary>
/// What a family gets to build its modules with: the dtype and device, the factory every linear layer is created
/// through (so quantized or adapted layers replace them without the model files changing) and the attention kernel.
/// </summary>
/// <param name="DType">Weights and activations dtype.</param>
/// <param name="Device">Device.</param>
/// <param name="Linear">Creates every linear layer.</param>
/// <param name="Attention">Computes attention from queries, keys and values.</param>
public sealed record ModelBuildContext(ScalarType DType, Device Device, ILinearFactory Linear, IAttentionKernel Attention)
{
    /// <summary>
    /// The dtype the KV cache stores keys and values in; null: <see cref="DType"/>. A 16-bit cache under an f32 model
    /// halves the cache's memory and the bytes a decode step's attention reads (it widens them as it reads).
    /// </summary>
    public ScalarType? KvCacheDType { get; init; }
}
