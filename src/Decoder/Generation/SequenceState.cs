using System.Diagnostics;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Decoder.Generation.Constraints;
using LlavaModal.Tokenizers;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Generation;

/// <summary>
/// One request's life in the engine: waiting, then one row of the batch. Holds what is per sequence (options, random
/// source, repetition-penalty ids, detokenizer, stop matcher, cache length, next position) and turns each chosen id
/// into streamed text and, at the end, a <see cref="GenerationResult"/>.
/// </summary>
sealed class SequenceState : IDisposable
{
    readonly Func<PromptSequence> build;
    readonly Action<GenerationChunk>? onChunk;
    readonly TaskCompletionSource<GenerationResult> completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly CancellationTokenRegistration whileWaiting;
    readonly long submitted = Stopwatch.GetTimestamp();
    readonly HashSet<int> stopIds;
    long admitted;
    long firstToken;
    StreamingDetokenizer? detokenizer;
    StopStringMatcher? matcher;
    Tensor? seen;
    int seenLength;
    IReadOnlyList<ulong>? promptKeys;
    TokenConstraint? constraint;

    public SequenceState(Func<PromptSequence> build, GenerationOptions options, IEnumerable<int> eosTokenIds, CancellationToken cancellation, Action<GenerationChunk>? onChunk)
    {
        this.build = build;
        this.onChunk = onChunk;
        Options = options;
        Cancellation = cancellation;
        stopIds = [.. eosTokenIds.Concat(options.StopTokenIds)];
        // Cancelled while still waiting: give up at once (the worker skips finished requests); once admitted it ends as Cancelled.
        whileWaiting = cancellation.Register(() => { if (Interlocked.Read(ref admitted) == 0) completion.TrySetCanceled(cancellation); });
    }

    public GenerationOptions Options { get; }

    public CancellationToken Cancellation { get; }

    public Task<GenerationResult> Task => completion.Task;

    /// <summary>Prompt ids (before media expansion).</summary>
    public IReadOnlyList<int> PromptIds { get; private set; } = [];

    /// <summary>Positions the prompt took.</summary>
    public int PromptTokens { get; private set; }

    /// <summary>Positions of this sequence in its cache row.</summary>
    public long Length { get; set; }

    /// <summary>Most positions the sequence may take (the context): it ends when the next token would not fit.</summary>
    public long MaxLength { get; set; } = long.MaxValue;

    /// <summary>Prompt positions loaded from the prompt cache instead of computed.</summary>
    public int CachedTokens { get; set; }

    /// <summary>The position id of the next token (the same on every axis).</summary>
    public long NextPosition { get; set; }

    /// <summary>The id to feed at the next step.</summary>
    public long Pending { get; private set; }

    public List<int> Generated { get; } = [];

    public FinishReason? Finish { get; private set; }

    public Generator? Random { get; private set; }

    /// <summary>Greedy without a repetition penalty: the whole batch can share one argmax.</summary>
    public bool IsPlainGreedy => Options.Temperature == 0 && Options.RepetitionPenalty == 1f;

    /// <summary>Runs the prompt's preparation (tokenising, media encoding) now that the sequence has a row; false if it was cancelled while waiting.</summary>
    public bool TryAdmit(out PromptSequence prompt, HfTokenizer tokenizer, Device device)
    {
        prompt = null!;
        if (Interlocked.CompareExchange(ref admitted, Stopwatch.GetTimestamp(), 0) != 0 || completion.Task.IsCompleted) return false;
        whileWaiting.Dispose();
        prompt = build();
        PromptIds = prompt.PromptIds;
        PromptTokens = (int)prompt.Length;
        promptKeys = prompt.Keys;
        detokenizer = tokenizer.CreateStreamingDecoder(Options.SkipSpecialTokens);
        matcher = new StopStringMatcher(Options.StopStrings);
        if (Options.Temperature > 0) Random = new Generator((ulong)(Options.Seed ?? System.Random.Shared.NextInt64()), device);
        if (Options.RepetitionPenalty != 1f) seen = PenaltyBuffer(prompt.PromptIds, Options.MaxNewTokens, device);
        constraint = Options.OutputGrammar?.Start(tokenizer, stopIds);
        return true;
    }

    /// <summary>Blocks, in <paramref name="logits"/> [1, V], the tokens this sequence's output grammar does not allow next (no-op without one).</summary>
    public void Restrict(Tensor logits)
    {
        if (constraint is null) return;
        // Tokens still to come, this one included: the token limit, and the context (this token is accepted at position Length).
        long left = Math.Min(Options.MaxNewTokens - Generated.Count, MaxLength - Length);
        constraint.Restrict(logits, (int)Math.Clamp(left, 1, int.MaxValue));
    }

    /// <summary>Whether the sequence has an output grammar.</summary>
    public bool IsConstrained => constraint is not null;

    /// <summary>Ids seen so far [1, L] for the repetition penalty, or null.</summary>
    public Tensor? Seen => seen?.narrow(1, 0, seenLength);

    /// <summary>Takes the chosen id: streams its text, decides whether the sequence ends, and remembers it to feed next.</summary>
    public void Accept(int id)
    {
        if (firstToken == 0) firstToken = Stopwatch.GetTimestamp();
        constraint?.Accept(id);
        Generated.Add(id);
        Pending = id;
        if (seen is not null)
        {
            if (seenLength == seen.shape[1]) seen = Grown(seen);
            using var slot = seen.narrow(1, seenLength, 1);
            slot.FillScalar_((long)id);
            seenLength++;
        }
        var text = matcher!.Push(detokenizer!.Push(id));
        if (stopIds.Contains(id) || matcher.Stopped) Finish = FinishReason.Stop;
        // The chosen id is not in the cache yet: feeding it needs position Length, which must be inside the context.
        else if (Generated.Count >= Options.MaxNewTokens || Length + 1 >= MaxLength) Finish = FinishReason.Length;
        else if (Cancellation.IsCancellationRequested) Finish = FinishReason.Cancelled;
        if (Finish is FinishReason.Stop or FinishReason.Length) text += matcher.Push(detokenizer.Flush()) + matcher.Flush();
        if (text.Length > 0 || Finish is null) onChunk?.Invoke(new GenerationChunk(text, id));
        // A caller cancelling from its chunk callback stops here, as between tokens.
        if (Finish is null && Cancellation.IsCancellationRequested) Finish = FinishReason.Cancelled;
    }

    /// <summary>The prompt cache's keys of the positions in this sequence's row (prompt, then the generated ids fed back), or null when the prompt has none.</summary>
    public IReadOnlyList<ulong>? CacheKeys()
    {
        if (promptKeys is null || Length < promptKeys.Count) return null;
        var keys = new List<ulong>((int)Length);
        keys.AddRange(promptKeys);
        for (int i = 0; keys.Count < Length; i++) keys.Add((uint)Generated[i]);
        return keys;
    }

    /// <summary>Ends a request that asked for no tokens.</summary>
    public void FinishEmpty() => Finish = FinishReason.Length;

    /// <summary>Completes the request with its result.</summary>
    public void Complete()
    {
        long now = Stopwatch.GetTimestamp();
        var first = firstToken == 0 ? now : firstToken;
        completion.TrySetResult(new GenerationResult(PromptIds, Generated, matcher?.Text ?? "", Finish ?? FinishReason.Length, PromptTokens,
            Stopwatch.GetElapsedTime(admitted, first), Stopwatch.GetElapsedTime(first, now), Stopwatch.GetElapsedTime(submitted, admitted == 0 ? now : admitted))
        { CachedPromptTokens = CachedTokens });
        Dispose();
    }

    /// <summary>Fails the request (its preparation or callback threw, the engine failed or shut down).</summary>
    public void Fail(Exception error)
    {
        // Cancelled while its prompt was being prepared or encoded: a cancelled task, as when cancelled while waiting.
        if (error is OperationCanceledException && Cancellation.IsCancellationRequested) completion.TrySetCanceled(Cancellation);
        else completion.TrySetException(error);
        Dispose();
    }

    /// <summary>Ids for the repetition penalty with room for some output (grown by doubling); unused slots repeat a real id, which gather/scatter treat as a no-op.</summary>
    Tensor PenaltyBuffer(IReadOnlyList<int> ids, int maxNewTokens, Device device)
    {
        int width = ids.Count + Math.Max(1, Math.Min(maxNewTokens, 256));
        var buffer = new long[width];
        long filler = ids.Count > 0 ? ids[0] : 0;
        for (int i = 0; i < width; i++) buffer[i] = i < ids.Count ? ids[i] : filler;
        seenLength = ids.Count;
        return tensor(buffer, [1, width], device: device).DetachFromDisposeScope();
    }

    static Tensor Grown(Tensor buffer)
    {
        using var filler = buffer.narrow(1, 0, 1);
        var grown = cat([buffer, filler.expand(1, buffer.shape[1])], 1).DetachFromDisposeScope();
        buffer.Dispose();
        return grown;
    }

    public void Dispose()
    {
        whileWaiting.Dispose();
        seen?.Dispose();
        seen = null;
        Random?.Dispose();
        Random = null;
    }
}
