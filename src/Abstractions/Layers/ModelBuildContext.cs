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
public sealed record ModelBuildContext(ScalarType DType, Device Device, ILinearFactory Linear, IAttentionKernel Attention);
