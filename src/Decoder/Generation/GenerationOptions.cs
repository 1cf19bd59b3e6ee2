using LlavaModal.Decoder.Generation.Constraints;

namespace LlavaModal.Decoder.Generation;

/// <summary>How to generate: length, sampling, penalties, stops and seed. Defaults are greedy decoding of up to 256 tokens.</summary>
public sealed record GenerationOptions
{
    /// <summary>Maximum new tokens; generation also stops when the model's context is full (<c>ModelLimits.MaxContextTokens</c>).</summary>
    public int MaxNewTokens { get; init; } = 256;
    /// <summary>0 (default) is greedy; above 0 samples with this temperature.</summary>
    public float Temperature { get; init; }
    /// <summary>Nucleus sampling: keep the smallest set of tokens whose probability reaches this (1 = off).</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>Keep only the k most likely tokens (0 = off).</summary>
    public int TopK { get; init; }
    /// <summary>Drop tokens less likely than this fraction of the most likely one (0 = off).</summary>
    public float MinP { get; init; }
    /// <summary>Penalty on tokens already in the prompt or the output (1 = off), as the reference applies it.</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    /// <summary>Seed for sampling; the same seed, prompt and options give the same output.</summary>
    public long? Seed { get; init; }
    /// <summary>Generation stops when the output text contains one of these; the text is cut before it.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];
    /// <summary>Extra token ids that end generation (the model's end-of-sequence ids always do).</summary>
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];
    /// <summary>Drop special tokens from the returned text (default true).</summary>
    public bool SkipSpecialTokens { get; init; } = true;
    /// <summary>
    /// A shape the output must take (JSON, or JSON matching a schema), enforced token by token; null (default) for free
    /// text. Stop strings still apply and can cut such an output short.
    /// </summary>
    public OutputGrammar? OutputGrammar { get; init; }

    /// <summary>Checks ranges; throws <see cref="ArgumentOutOfRangeException"/> naming the option.</summary>
    public void Validate()
    {
        if (MaxNewTokens < 0) throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "must be 0 or more.");
        if (!(Temperature >= 0) || float.IsInfinity(Temperature)) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "must be 0 (greedy) or a positive finite number.");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "must be in (0, 1].");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "must be 0 (off) or positive.");
        if (!(MinP >= 0 && MinP <= 1)) throw new ArgumentOutOfRangeException(nameof(MinP), MinP, "must be in [0, 1].");
        if (!(RepetitionPenalty > 0) || float.IsInfinity(RepetitionPenalty)) throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), RepetitionPenalty, "must be a positive finite number.");
        if (StopStrings.Any(string.IsNullOrEmpty)) throw new ArgumentException("Stop strings must not be empty.", nameof(StopStrings));
    }
}
