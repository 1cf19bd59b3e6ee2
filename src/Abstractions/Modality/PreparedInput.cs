using LlavaModal.Abstractions.Decoding;
using static TorchSharp.torch;

namespace LlavaModal.Abstractions.Modality;

/// <summary>
/// A preprocessed input, the number of positions it will take in the decoder's sequence (known here, before anything
/// is encoded, and checked against the prompt in one place), and what the model may need to know about it.
/// </summary>
/// <param name="Values">Model input (e.g. pixel values [1, 3, H, W] or log-mel windows [n, mels, frames]).</param>
/// <param name="TokenCount">Positions it takes in the decoder's sequence after projection.</param>
/// <param name="Source">Where it came from, for messages.</param>
public sealed record PreparedInput(Tensor Values, int TokenCount, string Source) : IDisposable
{
    /// <summary>Facts about the original input (image size, frames, sampling rate) that post-processing may use.</summary>
    public InputMetadata Metadata { get; init; } = InputMetadata.None;

    /// <summary>How the input's tokens are arranged (frames × rows × columns), for multi-axis positions; null for a plain sequence.</summary>
    public MediaGrid? Grid { get; init; }

    /// <inheritdoc />
    public void Dispose() => Values.Dispose();
}
