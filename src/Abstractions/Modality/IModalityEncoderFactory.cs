namespace LlavaModal.Abstractions.Modality;

/// <summary>
/// Loads a modality plugin and its projector from a model folder. The model asks every registered factory; a factory
/// whose modality the folder does not carry returns null.
/// </summary>
public interface IModalityEncoderFactory
{
    /// <summary>The modality the factory creates (<c>image</c>, <c>audio</c>).</summary>
    string Modality { get; }

    /// <summary>Creates the encoder and projector, or returns null when the folder has no such modality.</summary>
    /// <exception cref="CheckpointException">The folder carries the modality but its config or weights are wrong.</exception>
    ModalityBinding? TryLoad(ModalityLoadContext context);

    /// <summary>
    /// Every binding the folder carries for this factory: its one modality (<see cref="TryLoad"/>) unless a family's
    /// modalities share one encoder, as LLaVA-OneVision's images and videos share a vision tower and projector, which are
    /// then loaded once for all of them. The model loads through this method.
    /// </summary>
    /// <exception cref="CheckpointException">The folder carries the modality but its config or weights are wrong.</exception>
    IReadOnlyList<ModalityBinding> LoadAll(ModalityLoadContext context) => TryLoad(context) is { } binding ? [binding] : [];
}
