using static TorchSharp.torch;

namespace LlavaModal.Decoder.Generation;

/// <summary>
/// One prompt ready for the decoder: its ids (before media expansion), its length in positions, how to embed it from a
/// position on, its position ids, and one key per position for the prompt cache. Embedding is on demand so that the
/// positions a cached prefix covers are never embedded: media there is not encoded again.
/// </summary>
sealed class PromptSequence
{
    readonly Func<long, Tensor> embedFrom;

    /// <summary>A prompt embedded already (tests, benchmarks); cached only when <paramref name="keys"/> are given.</summary>
    /// <param name="promptIds">The tokenised prompt; also the ids the repetition penalty looks at.</param>
    /// <param name="embeddings">Decoder input [T, hidden].</param>
    /// <param name="positions">Position ids [axes, T] (CPU, int64), or null for 0..T-1.</param>
    /// <param name="resources">Released once the prompt is in the cache.</param>
    /// <param name="keys">One key per position (see <see cref="Keys"/>), or null.</param>
    public PromptSequence(IReadOnlyList<int> promptIds, Tensor embeddings, Tensor? positions = null, IDisposable? resources = null, IReadOnlyList<ulong>? keys = null)
        : this(promptIds, embeddings.shape[0], from => embeddings.narrow(0, from, embeddings.shape[0] - from), positions, resources, keys)
    {
    }

    /// <summary>A prompt embedded on demand.</summary>
    /// <param name="promptIds">The tokenised prompt; also the ids the repetition penalty looks at.</param>
    /// <param name="length">Positions the prompt takes (T).</param>
    /// <param name="embedFrom">Decoder input [T - from, hidden] for positions from..T-1.</param>
    /// <param name="positions">Position ids [axes, T] (CPU, int64), or null for 0..T-1.</param>
    /// <param name="resources">Released once the prompt is in the cache (prepared media, for example).</param>
    /// <param name="keys">One key per position (see <see cref="Keys"/>), or null.</param>
    public PromptSequence(IReadOnlyList<int> promptIds, long length, Func<long, Tensor> embedFrom, Tensor? positions, IDisposable? resources, IReadOnlyList<ulong>? keys)
    {
        ArgumentNullException.ThrowIfNull(promptIds);
        ArgumentNullException.ThrowIfNull(embedFrom);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        if (keys is not null && keys.Count != length) throw new ArgumentException($"{keys.Count} cache keys for {length} positions.", nameof(keys));
        PromptIds = promptIds;
        Length = length;
        this.embedFrom = embedFrom;
        Positions = positions;
        Resources = resources;
        Keys = keys;
    }

    /// <summary>The tokenised prompt (before media expansion).</summary>
    public IReadOnlyList<int> PromptIds { get; }

    /// <summary>Positions the prompt takes (media expanded).</summary>
    public long Length { get; }

    /// <summary>Position ids [axes, T] (CPU, int64), or null for 0..T-1.</summary>
    public Tensor? Positions { get; }

    /// <summary>Released once the prompt is in the cache.</summary>
    public IDisposable? Resources { get; }

    /// <summary>
    /// One key per position: two prompts whose keys agree up to a position have the same keys and values there (a text
    /// token's key is its id; a media position's key is derived from the prepared input's content and its index). Null:
    /// the prompt is never cached.
    /// </summary>
    public IReadOnlyList<ulong>? Keys { get; }

    /// <summary>Decoder input [T - <paramref name="from"/>, hidden] for the positions from <paramref name="from"/> on.</summary>
    public Tensor EmbedFrom(long from) => embedFrom(from);
}
