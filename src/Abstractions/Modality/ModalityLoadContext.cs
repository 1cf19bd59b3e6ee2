using LlavaModal.Abstractions.Architectures;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Weights;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace LlavaModal.Abstractions.Modality;

/// <summary>What a plugin factory gets to load from.</summary>
/// <param name="ModelDirectory">The model folder.</param>
/// <param name="Config">Its parsed <c>config.json</c>.</param>
/// <param name="Weights">Its weights.</param>
/// <param name="DecoderHiddenSize">The language model's width, the projectors' output width.</param>
/// <param name="Build">Dtype, device, linear factory and attention kernel to build modules with.</param>
/// <param name="Architectures">The registered vision towers and other parts, by config name.</param>
/// <param name="Logger">Logger for load-time notes.</param>
public sealed record ModalityLoadContext(string ModelDirectory, JsonConfig Config, IWeightSource Weights, int DecoderHiddenSize, ModelBuildContext Build, IArchitectureCatalog Architectures, ILogger Logger)
{
    /// <summary>Compute dtype.</summary>
    public ScalarType DType => Build.DType;

    /// <summary>Device.</summary>
    public Device Device => Build.Device;
}
