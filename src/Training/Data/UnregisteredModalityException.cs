using LlavaModal.Abstractions;

namespace LlavaModal.Training.Data;

/// <summary>A training sample holds media of a modality the model has no plugin for.</summary>
/// <param name="sampleId">The sample.</param>
/// <param name="modality">The modality its <c>media</c> names.</param>
/// <param name="registered">The modalities the model does have.</param>
public sealed class UnregisteredModalityException(string sampleId, string modality, IEnumerable<string> registered)
    : LlavaModalException($"sample '{sampleId}': its media is of modality '{modality}', but the model has no plugin for '{modality}' (registered: {string.Join(", ", registered.Order(StringComparer.Ordinal))}). "
        + "Load the model with that modality's plugin factory (the folder must carry it, e.g. after `llava-modal attach-audio`).")
{
    /// <summary>The sample.</summary>
    public string SampleId { get; } = sampleId;

    /// <summary>The modality without a plugin.</summary>
    public string Modality { get; } = modality;
}
