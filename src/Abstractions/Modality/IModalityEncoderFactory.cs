using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Weights;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace LlavaModal.Abstractions.Modality;

/// <summary>
/// Loads a modality plugin and its projector from a model folder. The multimodal model asks every registered
/// factory; a factory whose modality the folder does not carry returns null.
/// </summary>
public interface IModalityEncoderFactory
{
    /// <summary>The modality the factory creates (<c>image</c>, <c>audio</c>).</summary>
    string Modality { get; }

    /// <summary>Creates the encoder and projector, or returns null when the folder has no such modality.</summary>
    /// <exception cref="CheckpointException">The folder carries the modality but its config or weights are wrong.</exception>
    ModalityBinding? TryLoad(ModalityLoadContext context);
}

/// <summary>What a factory gets to load from.</summary>
/// <param name="ModelDirectory">The model folder.</param>
/// <param name="Config">Its parsed <c>config.json</c>.</param>
/// <param name="Weights">Its safetensors weights.</param>
/// <param name="DecoderHiddenSize">The language model's width, the projectors' output width.</param>
/// <param name="DType">Compute dtype.</param>
/// <param name="Device">Device.</param>
/// <param name="Logger">Logger for load-time notes.</param>
public sealed record ModalityLoadContext(string ModelDirectory, JsonConfig Config, IWeightSource Weights, int DecoderHiddenSize, ScalarType DType, Device Device, ILogger Logger);

/// <summary>A loaded plugin: its encoder and the projector that maps it to the decoder's width.</summary>
/// <param name="Encoder">The encoder.</param>
/// <param name="Projector">The projector.</param>
/// <param name="PlaceholderTokenId">The id the checkpoint's config gives the placeholder (e.g. LLaVA's <c>image_token_index</c>), checked against the tokenizer.</param>
public sealed record ModalityBinding(IModalityEncoder Encoder, IProjector Projector, int? PlaceholderTokenId = null) : IDisposable
{
    /// <summary>False when someone else (a DI container) owns the encoder's lifetime.</summary>
    public bool OwnsEncoder { get; init; } = true;

    /// <inheritdoc />
    public void Dispose()
    {
        if (OwnsEncoder) Encoder.Dispose();
        (Projector as IDisposable)?.Dispose();
    }
}
