using LlavaModal.Abstractions.Decoding;

namespace LlavaModal.Multimodal;

/// <summary>
/// The token budget every request is checked against before anything is encoded or allocated: a prompt's positions (text
/// tokens plus every media input's tokens, known from its chunk before encoding) must leave room in the context, and
/// generation stops when the context is full, so <c>max_new_tokens</c> never sizes a KV cache beyond it. Media have their
/// own limits where they are decoded (<c>ImageLoaderOptions.MaxPixels</c>, <c>AudioReaderOptions.MaxDuration</c>).
/// </summary>
public sealed record ModelLimits
{
    /// <summary>The context used when the config claims a larger <c>max_position_embeddings</c> and <see cref="MaxContextTokens"/> is not set: 32768.</summary>
    public const int DefaultContextCap = 32768;

    /// <summary>
    /// Most positions of a request, prompt and generated tokens together. Null (default): the decoder's
    /// <c>max_position_embeddings</c>, at most <see cref="DefaultContextCap"/> (a config is untrusted input; a claimed
    /// context of 2^31 would let one request size a KV cache of terabytes). Set it to allow longer requests, also beyond
    /// <c>max_position_embeddings</c> (rotary positions extrapolate, as transformers allows with a warning).
    /// </summary>
    public int? MaxContextTokens { get; init; }

    /// <summary>
    /// Most prompt positions computed in one forward (default <c>GenerationEngine.DefaultPrefillChunkTokens</c>, 256):
    /// a longer prompt, media included, is prefilled in pieces of this many, so its activations grow with the piece,
    /// not the prompt. Larger pieces can be a little faster on long prompts and take more memory; the answer is the same
    /// within rounding.
    /// </summary>
    public int? PrefillChunkTokens
    {
        get => prefillChunkTokens;
        init => prefillChunkTokens = value is < 1 ? throw new ArgumentOutOfRangeException(nameof(PrefillChunkTokens), value, "must be 1 or more (null: the default).") : value;
    }

    readonly int? prefillChunkTokens;

    /// <summary>The context in force for a decoder.</summary>
    public int ContextFor(IDecoderConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return MaxContextTokens ?? Math.Min(config.MaxPositionEmbeddings, DefaultContextCap);
    }

    /// <summary>Where the context comes from, for messages.</summary>
    internal string Explain(IDecoderConfig config) => MaxContextTokens is int set
        ? $"ModelLimits.MaxContextTokens = {set}"
        : $"the model's max_position_embeddings {config.MaxPositionEmbeddings}{(config.MaxPositionEmbeddings > DefaultContextCap ? $", capped at {DefaultContextCap}" : "")}; ModelLimits.MaxContextTokens overrides it";

    /// <summary>How a user raises the limit, for messages.</summary>
    internal const string HowToRaise = "ModelLoadOptions.Limits = new ModelLimits { MaxContextTokens = N } (DI: LlavaModalOptions.MaxContextTokens; CLI: --max-context-tokens N)";
}
