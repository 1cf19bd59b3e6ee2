using System.Collections.Concurrent;
using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Tokenizers;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Generation;

/// <summary>
/// Continuous batching over any <see cref="CausalLanguageModel"/>. Requests queue; one worker thread owns the model.
/// Between decode steps it admits waiting requests into free rows of the KV cache, each prompt prefilled alone (batch 1,
/// so its numbers are those of a lone request) in pieces of <see cref="PrefillChunkTokens"/>; a prompt of several pieces
/// takes one piece per decode step of the rows already running, so their answers do not stall behind it. Each step runs
/// one decode step for every active row at once: row b feeds its
/// last token at its own position, writes its keys at its own length and attends to its own positions only (a padding
/// mask over the longest row). A finished row leaves at once and the last row moves into its place, so the active rows
/// stay contiguous and a step works on views of the cache. The only host read per step is the chosen ids, which stop
/// checks and streaming need anyway.
/// </summary>
sealed class GenerationEngine : IDisposable
{
    readonly CausalLanguageModel model;
    readonly HfTokenizer tokenizer;
    readonly IReadOnlyList<int> eosTokenIds;
    readonly ConcurrentQueue<SequenceState> waiting = new();
    readonly ConcurrentQueue<(Action Run, Action<Exception> Fail)> work = new();
    readonly Lock gate = new();
    readonly SemaphoreSlim wake = new(0);
    readonly List<SequenceState> active = [];
    readonly Thread worker;
    readonly PromptCache? prompts;
    IBatchKvCache? cache;
    Prefilling? prefilling;
    int activeCount;
    volatile bool stopping;

    /// <param name="model">The decoder.</param>
    /// <param name="tokenizer">Detokenizes the output.</param>
    /// <param name="eosTokenIds">Ids that end a sequence.</param>
    /// <param name="maxBatch">Most sequences decoded together; more wait for a free row.</param>
    /// <param name="contextTokens">Most positions of a sequence, prompt and answer: generation ends (as <see cref="FinishReason.Length"/>) when its context is full.</param>
    /// <param name="promptCacheBytes">Memory for keys and values of finished sequences that later prompts may start with (0: no prompt cache).</param>
    /// <param name="prefillChunkTokens">Most prompt positions one forward computes (<see cref="PrefillChunkTokens"/>).</param>
    public GenerationEngine(CausalLanguageModel model, HfTokenizer tokenizer, IReadOnlyList<int> eosTokenIds, int maxBatch = 8, int contextTokens = int.MaxValue, long promptCacheBytes = 0,
        int prefillChunkTokens = DefaultPrefillChunkTokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(promptCacheBytes);
        ArgumentOutOfRangeException.ThrowIfLessThan(prefillChunkTokens, 1);
        PrefillChunkTokens = prefillChunkTokens;
        if (promptCacheBytes > 0) prompts = new PromptCache(promptCacheBytes);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(contextTokens, 1);
        ContextTokens = contextTokens;
        this.model = model;
        this.tokenizer = tokenizer;
        this.eosTokenIds = eosTokenIds;
        MaxBatch = maxBatch;
        worker = new Thread(Loop) { IsBackground = true, Name = "LlavaModal generation" };
        worker.Start();
    }

    /// <summary>Most sequences decoded together.</summary>
    public int MaxBatch { get; }

    /// <summary>Most positions of a sequence, prompt and answer together.</summary>
    public int ContextTokens { get; }

    /// <summary>The default of <see cref="PrefillChunkTokens"/>.</summary>
    public const int DefaultPrefillChunkTokens = 256;

    /// <summary>
    /// Most prompt positions one forward computes: a longer prompt is prefilled in pieces of this many, each attending
    /// to the keys and values of the pieces before it in the cache (as llama.cpp's micro-batches). A prompt's
    /// activations (every layer's [T, hidden] and [T, intermediate] temporaries, the attention's work) then grow with
    /// the piece, not the prompt; the logits are the same within rounding.
    /// </summary>
    public int PrefillChunkTokens { get; }

    /// <summary>Sequences decoding now (for metrics).</summary>
    public int Active => Volatile.Read(ref activeCount);

    /// <summary>Requests waiting for a row (for metrics).</summary>
    public int Waiting => waiting.Count;

    /// <summary>The prompt cache, or null when disabled.</summary>
    public PromptCache? PromptCache => prompts;

    /// <summary>Receives each forward's raw logits: [1, V] after a prefill, [rows, V] after a decode step (tests compare them with the reference).</summary>
    public Action<Tensor>? StepLogitsObserver { get; set; }

    /// <summary>
    /// Queues a request. <paramref name="build"/> runs on the worker when a row is free (so media encoding is serialised
    /// with the model) and returns the prompt; its tensors live until the prefill is done, and a
    /// <see cref="PromptSequence.Resources"/> is disposed then. <paramref name="onChunk"/> runs on the worker: keep it short.
    /// </summary>
    /// <returns>The result; cancelled before admission: a cancelled task; cancelled after: a result with <see cref="FinishReason.Cancelled"/>.</returns>
    public Task<GenerationResult> Submit(Func<PromptSequence> build, GenerationOptions options, CancellationToken cancellation = default, Action<GenerationChunk>? onChunk = null)
    {
        ArgumentNullException.ThrowIfNull(build);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var sequence = new SequenceState(build, options, eosTokenIds, cancellation, onChunk);
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(stopping, this);
            waiting.Enqueue(sequence);
        }
        wake.Release();
        return sequence.Task;
    }

    /// <summary>Generates for prepared rows (tests and benchmarks); <paramref name="onChunk"/> receives (row, chunk).</summary>
    public GenerationResult[] Run(IReadOnlyList<PromptSequence> rows, GenerationOptions options, CancellationToken cancellation, Action<int, GenerationChunk>? onChunk = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var tasks = rows.Select((row, b) => Submit(() => row, options, cancellation, onChunk is null ? null : chunk => onChunk(b, chunk))).ToArray();
        return Task.WhenAll(tasks).GetAwaiter().GetResult();
    }

    /// <summary>Runs <paramref name="job"/> on the worker between decode steps, without gradients (full forwards, inspection).</summary>
    public T Invoke<T>(Func<T> job, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = cancellation.Register(() => done.TrySetCanceled(cancellation));
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(stopping, this);
            work.Enqueue((() =>
            {
                if (done.Task.IsCompleted) return;
                try { done.TrySetResult(job()); }
                catch (Exception e) { done.TrySetException(e); }
            }, e => done.TrySetException(e)));
        }
        wake.Release();
        return done.Task.GetAwaiter().GetResult();
    }

    void Loop()
    {
        using var noGrad = no_grad();
        while (true)
        {
            if (active.Count == 0 && prefilling is null && work.IsEmpty && waiting.IsEmpty)
            {
                // Idle: give the cache's memory back, then sleep until something arrives.
                cache?.Dispose();
                cache = null;
                if (stopping) break;
                wake.Wait();
                continue;
            }
            while (work.TryDequeue(out var job)) job.Run();
            // A prompt longer than a piece takes one piece per decode step of the others, so their answers keep flowing;
            // no other is admitted until it is in (its row sits past the active ones).
            if (prefilling is not null) Continue();
            while (prefilling is null && active.Count < MaxBatch && waiting.TryDequeue(out var sequence)) Admit(sequence);
            if (active.Count > 0) Step();
        }
        while (work.TryDequeue(out var job)) job.Run();
    }

    /// <summary>Prepares one sequence and computes the first piece of its prompt into the next free row (<see cref="Continue"/>).</summary>
    void Admit(SequenceState sequence)
    {
        if (stopping)
        {
            sequence.Fail(new ObjectDisposedException(nameof(GenerationEngine), "The model was disposed before this request started."));
            return;
        }
        using var scope = NewDisposeScope();
        try
        {
            if (!sequence.TryAdmit(out var prompt, tokenizer, model.Device)) return;
            try
            {
                long length = prompt.Length;
                if (length >= ContextTokens)
                    throw new ArgumentException($"The prompt takes {length} positions; with the first new token that exceeds the context of {ContextTokens}.");
                sequence.MaxLength = ContextTokens;
                int axes = model.Config.PositionDimensions;
                var positions = prompt.Positions ?? Scalars.Arange(0, length).unsqueeze(0).expand(axes, length);
                if (positions.shape[0] != axes || positions.shape[1] != length)
                    throw new ArgumentException($"The prompt's positions have shape [{string.Join(", ", positions.shape)}], expected [{axes}, {length}].");
                // Decoding continues after the largest prompt position, on every axis (for M-RoPE that is its rope delta).
                sequence.NextPosition = (prompt.Positions is null ? length - 1 : positions.max().item<long>()) + 1;
                if (sequence.Options.MaxNewTokens == 0)
                {
                    prompt.Resources?.Dispose();
                    sequence.FinishEmpty();
                    sequence.Complete();
                    return;
                }

                int row = active.Count;
                var rows = cache ??= model.CreateCache(row + 1, length + FirstReserve(sequence.Options));
                rows.EnsureCapacity(row + 1, length + 1);
                // A cached prefix is loaded instead of computed (its media never encoded); the last position is always computed, for its logits.
                var (prefix, reused) = prompt.Keys is { } keys && prompts is not null ? prompts.Find(keys, length - 1) : (null, 0);
                if (prefix is not null) rows.Load(row, prefix, reused);
                // The prompt's inputs outlive this scope (the pieces after the first run in later turns of the loop).
                // Own handles (alias): a caller's prepared prompt may be run again, so its tensors are never disposed here.
                prefilling = new Prefilling(sequence, prompt.Resources, row, prompt.EmbedFrom(reused).alias().DetachFromDisposeScope(),
                    positions.alias().DetachFromDisposeScope(), reused, length);
            }
            catch
            {
                prompt.Resources?.Dispose();
                throw;
            }
        }
        catch (Exception e)
        {
            sequence.Fail(e);
            return;
        }
        Continue();
    }

    /// <summary>
    /// Computes the next piece of the prompt being prefilled; after its last, picks its first token and moves it into the
    /// first free row (it joins the decode steps), or completes it. A failed or cancelled piece fails its request only.
    /// </summary>
    void Continue()
    {
        var p = prefilling!;
        var sequence = p.Sequence;
        try
        {
            using var scope = NewDisposeScope();
            if (Prefill(cache!, p) is not { } logits) return;
            sequence.Length = p.Length;
            sequence.CachedTokens = (int)p.Reused;
            StepLogitsObserver?.Invoke(logits);
            var decodable = Decodable(logits);
            sequence.Restrict(decodable);
            var next = LogitsProcessor.NextTokens(decodable, sequence.Seen, sequence.Options, sequence.Random);
            sequence.Accept((int)next.item<long>());
        }
        catch (Exception e)
        {
            prefilling = null;
            p.Dispose();
            sequence.Fail(e);
            return;
        }
        prefilling = null;
        p.Dispose();
        if (sequence.Finish is not null)
        {
            Remember(cache!, p.Row, sequence);
            sequence.Complete();
            return;
        }
        // Rows that finished meanwhile moved the last active one down: close the gap.
        cache!.MoveRow(p.Row, active.Count, sequence.Length);
        active.Add(sequence);
        Volatile.Write(ref activeCount, active.Count);
    }

    /// <summary>
    /// Computes the next piece (at most <see cref="PrefillChunkTokens"/> positions) of <paramref name="p"/>'s prompt into
    /// its row, attending to the pieces before it in the cache; returns the last position's logits [1, V] after the last
    /// piece, else null. A cancelled request stops before its next piece (a long prompt need not run to its end).
    /// </summary>
    Tensor? Prefill(IBatchKvCache rows, Prefilling p)
    {
        p.Sequence.Cancellation.ThrowIfCancellationRequested();
        int axes = model.Config.PositionDimensions;
        long start = p.Next, n = Math.Min(PrefillChunkTokens, p.Length - start);
        using var view = rows.Prefill(p.Row, start);
        // [axes, T] → [1, T] for one axis, [axes, 1, T] otherwise.
        var suffix = p.Positions.narrow(1, start, n);
        var ids = (axes == 1 ? suffix : suffix.unsqueeze(1)).to(model.Device);
        var logits = model.Forward(p.Embeds.narrow(0, start - p.Reused, n).unsqueeze(0), ids, padding: null, view, lastOnly: true);
        p.Next = start + n;
        return p.Next == p.Length ? logits.squeeze(1) : null;
    }

    /// <summary>A prompt being prefilled into <see cref="Row"/>, a piece a turn, from <see cref="Next"/> on.</summary>
    sealed class Prefilling(SequenceState sequence, IDisposable? resources, int row, Tensor embeds, Tensor positions, long reused, long length) : IDisposable
    {
        public SequenceState Sequence => sequence;
        public int Row => row;
        /// <summary>Inputs of positions <see cref="Reused"/>..<see cref="Length"/> [Length - Reused, hidden].</summary>
        public Tensor Embeds => embeds;
        /// <summary>Position ids [axes, Length].</summary>
        public Tensor Positions => positions;
        /// <summary>Positions loaded from the prompt cache.</summary>
        public long Reused { get; } = reused;
        public long Length => length;
        public long Next { get; set; } = reused;

        /// <summary>Releases the prompt's inputs and resources (once it is in the cache, or failed).</summary>
        public void Dispose()
        {
            embeds.Dispose();
            positions.Dispose();
            resources?.Dispose();
        }
    }

    /// <summary>Positions reserved at first beyond the prompt; the cache doubles when a sequence outgrows them.</summary>
    long FirstReserve(GenerationOptions options) => Math.Max(1, Math.Min(Math.Min(options.MaxNewTokens, 256), ContextTokens));

    /// <summary>One decode step for every active row.</summary>
    void Step()
    {
        var rows = cache!;
        try
        {
            using var scope = NewDisposeScope();
            var lengths = active.Select(s => s.Length).ToArray();
            rows.EnsureCapacity(active.Count, lengths.Max() + 1);
            // A sliding window is counted from the longest row: rows of unequal length past it decode one at a time.
            bool alone = model.Config.SlidingWindow is int window && lengths.Max() + 1 > window && lengths.Distinct().Count() > 1;
            var logits = alone
                ? cat(Enumerable.Range(0, active.Count).Select(b => Forward(rows, b, lengths.AsSpan(b, 1))).ToList(), 0)
                : Forward(rows, 0, lengths);
            StepLogitsObserver?.Invoke(logits);
            foreach (var sequence in active)
            {
                sequence.Length++;
                sequence.NextPosition++;
            }
            var ids = NextTokens(logits).cpu().data<long>().ToArray();
            for (int b = 0; b < active.Count; b++)
            {
                try { active[b].Accept((int)ids[b]); }
                catch (Exception e) { active[b].Fail(e); }
            }
        }
        catch (Exception e)
        {
            // The batch's state is unknown after a failed forward: fail every active request (and a prompt being
            // prefilled: its row goes with the cache) and start over.
            foreach (var sequence in active) sequence.Fail(e);
            if (prefilling is { } p)
            {
                prefilling = null;
                p.Dispose();
                p.Sequence.Fail(e);
            }
            active.Clear();
            Volatile.Write(ref activeCount, 0);
            cache?.Dispose();
            cache = null;
            return;
        }
        Retire(rows);
    }

    /// <summary>Forward of one new token for rows first..first+lengths.Length-1.</summary>
    Tensor Forward(IBatchKvCache rows, int first, ReadOnlySpan<long> lengths)
    {
        int count = lengths.Length;
        var fed = new long[count];
        var next = new long[count];
        for (int b = 0; b < count; b++)
        {
            fed[b] = active[first + b].Pending;
            next[b] = active[first + b].NextPosition;
        }
        var device = model.Device;
        int axes = model.Config.PositionDimensions;
        var embeds = model.Embed(tensor(fed, [count, 1], device: device));
        var positions = tensor(next, [1, count, 1], device: device).expand(axes, count, 1);
        long longest = 0;
        bool ragged = false;
        foreach (var l in lengths)
        {
            ragged |= l != lengths[0];
            longest = Math.Max(longest, l);
        }
        // Row b holds lengths[b] positions and writes its new one right after them; keys past that belong to nobody.
        Tensor? padding = null;
        if (ragged)
            padding = Scalars.Arange(0, longest + 1, device).unsqueeze(0).le(tensor(lengths.ToArray(), [count, 1], device: device));
        using var view = rows.Step(first, lengths.ToArray());
        return model.Forward(embeds, axes == 1 ? positions.squeeze(0) : positions, padding, view, lastOnly: true).squeeze(1);
    }

    /// <summary>Next ids [rows]: rows with an output grammar restricted first, then one argmax for a plain greedy batch, else each row with its own options and random source.</summary>
    Tensor NextTokens(Tensor logits)
    {
        var decodable = Decodable(logits);
        for (int b = 0; b < active.Count; b++)
            if (active[b].IsConstrained) active[b].Restrict(decodable.narrow(0, b, 1));
        if (active.All(s => s.IsPlainGreedy)) return decodable.argmax(-1);
        return cat(active.Select((s, b) => LogitsProcessor.NextTokens(decodable.narrow(0, b, 1), s.Seen, s.Options, s.Random)).ToList(), 0);
    }

    /// <summary>Completes finished rows and moves the last active row into each freed one.</summary>
    void Retire(IBatchKvCache rows)
    {
        for (int b = active.Count - 1; b >= 0; b--)
        {
            var sequence = active[b];
            if (sequence.Finish is null && !sequence.Task.IsCompleted) continue;
            if (sequence.Finish is not null)
            {
                Remember(rows, b, sequence);
                sequence.Complete();
            }
            else sequence.Dispose(); // failed, or cancelled while being admitted
            int last = active.Count - 1;
            if (b != last) rows.MoveRow(last, b, active[last].Length);
            active[b] = active[last];
            active.RemoveAt(last);
        }
        Volatile.Write(ref activeCount, active.Count);
    }

    /// <summary>Offers a finished sequence's positions (prompt and answer fed so far) to the prompt cache; its failure never fails the request.</summary>
    void Remember(IBatchKvCache rows, int row, SequenceState sequence)
    {
        if (prompts is null || sequence.CacheKeys() is not { } keys) return;
        try { prompts.Add(keys, () => rows.Save(row, keys.Count)); }
        // The cache only saves work: a copy libtorch cannot allocate just leaves this sequence out of it.
        catch (System.Runtime.InteropServices.ExternalException) { }
    }

    /// <summary>
    /// Rows of the embedding table past the tokenizer's vocabulary (checkpoints pad it, e.g. to a multiple of 64)
    /// have no text: they are never chosen, so every generated id can be decoded.
    /// </summary>
    Tensor Decodable(Tensor logits)
    {
        long vocab = logits.shape[^1];
        if (tokenizer.VocabSize >= vocab) return logits;
        var masked = logits.clone();
        using (var slot = masked.narrow(-1, tokenizer.VocabSize, vocab - tokenizer.VocabSize)) slot.FillScalar_(double.NegativeInfinity);
        return masked;
    }

    /// <summary>Stops taking requests, fails those still waiting, lets running ones finish, then stops the worker.</summary>
    public void Dispose()
    {
        if (Thread.CurrentThread == worker) throw new InvalidOperationException("The generation engine cannot be disposed from its own callbacks.");
        lock (gate)
        {
            if (stopping) return;
            stopping = true;
        }
        var disposed = new ObjectDisposedException(nameof(GenerationEngine), "The model was disposed before this request started.");
        while (waiting.TryDequeue(out var sequence)) sequence.Fail(disposed);
        wake.Release();
        worker.Join();
        while (work.TryDequeue(out var job)) job.Fail(disposed);
        prompts?.Dispose();
    }
}
