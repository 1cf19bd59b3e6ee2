using static TorchSharp.torch;

namespace LlavaModal.Abstractions.Modality;

/// <summary>
/// A loaded modality: its encoder and the projector to the decoder's width, and the one path from a prepared input to
/// decoder embeddings (<see cref="Embed"/>: encode, project, then whatever post-processing a family needs, such as
/// AnyRes packing or newline tokens, in a subclass).
/// </summary>
public class ModalityBinding : IDisposable
{
    /// <summary>Binds an encoder and a projector.</summary>
    /// <param name="encoder">The plugin.</param>
    /// <param name="projector">Maps the plugin's features to the decoder's width.</param>
    /// <param name="placeholderTokenId">The id the checkpoint's config gives the placeholder (e.g. LLaVA's <c>image_token_index</c>), checked against the tokenizer.</param>
    public ModalityBinding(IModalityEncoder encoder, IProjector projector, int? placeholderTokenId = null)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(projector);
        Encoder = encoder;
        Projector = projector;
        PlaceholderTokenId = placeholderTokenId;
    }

    /// <summary>The plugin.</summary>
    public IModalityEncoder Encoder { get; }

    /// <summary>The projector.</summary>
    public IProjector Projector { get; }

    /// <summary>The placeholder's id according to the checkpoint's config, if it says.</summary>
    public int? PlaceholderTokenId { get; }

    /// <summary>The modality's name (<see cref="IModalityEncoder.Modality"/>).</summary>
    public string Modality => Encoder.Modality;

    /// <summary>
    /// The text one input stands as when the model places it in a conversation (<see cref="IModalityEncoder.Placeholder"/>
    /// unless a family's prompts frame it, as Qwen2-VL's <c>&lt;|vision_start|&gt;&lt;|image_pad|&gt;&lt;|vision_end|&gt;</c>).
    /// It must hold the placeholder exactly once.
    /// </summary>
    public string PromptText
    {
        get => promptText ?? Encoder.Placeholder;
        init => promptText = value.Split(Encoder.Placeholder).Length == 2 ? value
            : throw new ArgumentException($"The prompt text '{value}' must hold the placeholder {Encoder.Placeholder} exactly once.", nameof(value));
    }

    readonly string? promptText;

    /// <summary>False when someone else (a DI container) owns the encoder's lifetime.</summary>
    public bool OwnsEncoder { get; init; } = true;

    /// <summary>
    /// Decoder embeddings [<see cref="PreparedInput.TokenCount"/>, hidden] of a prepared input: the plugin's features,
    /// checked against its declared width, through the projector, checked against the announced token count.
    /// </summary>
    /// <exception cref="LlavaModalException">The plugin's output does not have the shape it declared (names the input).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was cancelled.</exception>
    public virtual Tensor Embed(PreparedInput input, Device device, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = NewDisposeScope();
        var features = Encoder.Encode(input, device, cancellation);
        if (features.dim() != 2 || features.shape[1] != Encoder.OutputWidth)
            throw new LlavaModalException($"{input.Source}: the {Modality} encoder returned features of shape [{string.Join(", ", features.shape)}], expected [tokens, {Encoder.OutputWidth}].");
        var projected = Projector.Project(features);
        if (projected.shape[0] != input.TokenCount)
            throw new LlavaModalException($"{input.Source}: {Modality} features and tokens do not match: the plugin announced {input.TokenCount} tokens but produced {projected.shape[0]}.");
        return projected.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the encoder (when owned) and the projector.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (!disposing) return;
        if (OwnsEncoder) Encoder.Dispose();
        (Projector as IDisposable)?.Dispose();
    }
}
