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
}
