namespace LlavaModal.Decoder.Generation;

/// <summary>Why generation ended.</summary>
public enum FinishReason
{
    /// <summary>The token limit was reached.</summary>
    Length,
    /// <summary>An end-of-sequence token, stop token or stop string was produced.</summary>
    Stop,
    /// <summary>The caller cancelled.</summary>
    Cancelled,
}

/// <summary>The outcome of one generation.</summary>
/// <param name="PromptIds">The tokenised prompt (before any media expansion).</param>
/// <param name="GeneratedIds">The new token ids, including a final end-of-sequence token if one was produced.</param>
/// <param name="Text">The generated text (cut before a matched stop string).</param>
/// <param name="FinishReason">Why it ended.</param>
/// <param name="PromptTokens">Positions the model saw for the prompt (media tokens included).</param>
/// <param name="Prefill">Time to process the prompt and produce the first token.</param>
/// <param name="Decode">Time spent producing the remaining tokens.</param>
/// <param name="Queued">Time waiting for a free row of the batch before the prompt was processed.</param>
public sealed record GenerationResult(
    IReadOnlyList<int> PromptIds,
    IReadOnlyList<int> GeneratedIds,
    string Text,
    FinishReason FinishReason,
    int PromptTokens,
    TimeSpan Prefill,
    TimeSpan Decode,
    TimeSpan Queued = default)
{
    /// <summary>Prompt positions taken from the prompt cache instead of computed (included in <see cref="PromptTokens"/>).</summary>
    public int CachedPromptTokens { get; init; }

    /// <summary>Number of generated tokens.</summary>
    public int CompletionTokens => GeneratedIds.Count;

    /// <summary>Decode speed over the tokens after the first (0 when fewer than two).</summary>
    public double DecodeTokensPerSecond => GeneratedIds.Count > 1 && Decode > TimeSpan.Zero ? (GeneratedIds.Count - 1) / Decode.TotalSeconds : 0;
}

/// <summary>A piece of streamed output.</summary>
/// <param name="Text">New text (never a partial character; may be empty when a token completes nothing yet).</param>
/// <param name="TokenId">The token that produced it.</param>
/// <param name="Result">Set on the last chunk only: the complete result.</param>
public sealed record GenerationChunk(string Text, int TokenId, GenerationResult? Result = null);
