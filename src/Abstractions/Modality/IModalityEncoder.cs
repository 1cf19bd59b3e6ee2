using static TorchSharp.torch;

namespace LlavaModal.Abstractions.Modality;

/// <summary>
/// A modality plugin: turns raw inputs of one kind (images, audio, ...) into a sequence of feature vectors that a
/// projector maps into the decoder's embedding space. The multimodal model finds the plugin's
/// <see cref="Placeholder"/> in the prompt and splices the projected features there, in prompt order.
/// </summary>
public interface IModalityEncoder : IDisposable
{
    /// <summary>The modality's name (<c>image</c>, <c>audio</c>); unique among registered plugins.</summary>
    string Modality { get; }

    /// <summary>The prompt marker one input replaces (<c>&lt;image&gt;</c>, <c>&lt;audio&gt;</c>).</summary>
    string Placeholder { get; }

    /// <summary>Media types accepted (<c>image/*</c>, <c>audio/wav</c>).</summary>
    IReadOnlyList<string> MediaTypes { get; }

    /// <summary>Width of each feature vector <see cref="Encode(PreparedInput, Device)"/> returns (the projector's input width).</summary>
    int OutputWidth { get; }

    /// <summary>Tokens every input becomes when that is fixed (576 for LLaVA-1.5 images), else null.</summary>
    int? FixedTokenCount { get; }

    /// <summary>True when this plugin can read <paramref name="input"/> (by media type, or by sniffing its bytes when the type is unknown).</summary>
    bool Accepts(ModalityInput input);

    /// <summary>Decodes and preprocesses an input into model input (pixel values, log-mel features) on the CPU.</summary>
    /// <exception cref="LlavaModalException">The input is unreadable, corrupt or too large (the message names it).</exception>
    PreparedInput Prepare(ModalityInput input);

    /// <summary>Encodes prepared input into features [tokens, <see cref="OutputWidth"/>] on <paramref name="device"/>.</summary>
    Tensor Encode(PreparedInput input, Device device);

    /// <summary>
    /// <see cref="Prepare(ModalityInput)"/> for a request that may be cancelled: the model calls this one. A plugin with
    /// long work (many frames, long audio) overrides it and checks <paramref name="cancellation"/> between pieces, so a
    /// cancelled request frees the model at once; the default checks once, then prepares.
    /// </summary>
    /// <exception cref="OperationCanceledException">The request was cancelled.</exception>
    PreparedInput Prepare(ModalityInput input, CancellationToken cancellation)
    {
        cancellation.ThrowIfCancellationRequested();
        return Prepare(input);
    }

    /// <summary><see cref="Encode(PreparedInput, Device)"/> for a request that may be cancelled (see <see cref="Prepare(ModalityInput, CancellationToken)"/>).</summary>
    /// <exception cref="OperationCanceledException">The request was cancelled.</exception>
    Tensor Encode(PreparedInput input, Device device, CancellationToken cancellation)
    {
        cancellation.ThrowIfCancellationRequested();
        return Encode(input, device);
    }
}
