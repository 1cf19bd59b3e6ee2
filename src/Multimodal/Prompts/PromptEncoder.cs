using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Tokenizers;
using static TorchSharp.torch;

namespace LlavaModal.Multimodal.Prompts;

/// <summary>
/// Turns a prompt into decoder input in two steps: <see cref="Prepare"/> tokenises it, matches its placeholders with its
/// inputs, has each input's plugin prepare it (decode, preprocess: the only call of <see cref="IModalityEncoder.Prepare(ModalityInput, CancellationToken)"/>)
/// and checks every count before anything is encoded; <see cref="Embed"/> embeds text and media chunks in prompt order
/// and numbers their positions.
/// </summary>
sealed class PromptEncoder(HfTokenizer tokenizer, ModalityRouter router, IReadOnlyDictionary<int, ModalityBinding> byPlaceholderId, CausalLanguageModel decoder)
{
    /// <summary>
    /// Tokenises, routes and prepares. The token budget is checked before anything is prepared (text tokens plus every
    /// fixed-size input's count) and again as each variable-size input's count becomes known, before any encoding.
    /// </summary>
    /// <exception cref="InputLimitException">The prompt takes more positions than <paramref name="budget"/> allows (names the limit).</exception>
    /// <exception cref="LlavaModalException">Placeholder and input counts differ, a token is outside the model's vocabulary, or an input cannot be read or holds NaN (named in the message).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was cancelled (plugins see it between their pieces of work).</exception>
    public PreparedPrompt Prepare(MultimodalPrompt prompt, PromptBudget budget, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(budget);
        var ids = tokenizer.Encode(prompt.Text);
        if (ids.Count == 0) throw new ArgumentException("A prompt tokenised to no tokens; add text or enable the BOS token.", nameof(prompt));

        var queues = byPlaceholderId.Values.ToDictionary(b => b, _ => new Queue<ModalityInput>());
        foreach (var input in prompt.Inputs)
        {
            var (routed, binding) = router.Route(input);
            queues[binding].Enqueue(routed);
        }
        foreach (var (binding, queue) in queues)
        {
            int placeholders = ids.Count(id => byPlaceholderId.TryGetValue(id, out var b) && b == binding);
            if (placeholders != queue.Count)
                throw new LlavaModalException(
                    $"The prompt has {placeholders} {binding.Encoder.Placeholder} placeholder{(placeholders == 1 ? "" : "s")} but {queue.Count} {binding.Modality} input{(queue.Count == 1 ? " was" : "s were")} given.");
        }
        CheckVocabulary(ids);

        // The budget before anything is decoded: text plus the inputs whose token count is fixed (576 per LLaVA-1.5 image).
        long text = ids.Count(id => !byPlaceholderId.ContainsKey(id));
        long known = text + ids.Sum(id => byPlaceholderId.TryGetValue(id, out var b) ? (long)(b.Encoder.FixedTokenCount ?? 0) : 0);
        if (known > budget.MaxPositions) throw budget.Exceeded(known, Parts(ids, text));

        // Prepare everything (decode, preprocess) before the first forward pass: bad input fails fast and token counts are known.
        var chunks = new List<PromptChunk>();
        try
        {
            int from = 0;
            long positions = text;
            for (int i = 0; i < ids.Count; i++)
            {
                if (!byPlaceholderId.TryGetValue(ids[i], out var binding)) continue;
                if (i > from) chunks.Add(new TextChunk([.. ids.Skip(from).Take(i - from)]));
                var chunk = new MediaChunk(binding, PrepareInput(binding, queues[binding].Dequeue(), cancellation));
                chunks.Add(chunk);
                positions += chunk.Positions;
                if (positions > budget.MaxPositions)
                    throw budget.Exceeded(positions + RemainingFixed(ids, i + 1), Parts(ids, text, chunks));
                from = i + 1;
            }
            if (from < ids.Count) chunks.Add(new TextChunk([.. ids.Skip(from)]));
            return new PreparedPrompt(ids, chunks);
        }
        catch
        {
            foreach (var chunk in chunks) (chunk as MediaChunk)?.Input.Dispose();
            throw;
        }
    }

    /// <summary>Text ids the embedding table has no row for (a tokenizer larger than the model) are refused before the embedding lookup would fail natively.</summary>
    void CheckVocabulary(IReadOnlyList<int> ids)
    {
        int vocab = decoder.Config.VocabSize;
        foreach (var id in ids)
        {
            if (byPlaceholderId.ContainsKey(id) || (id >= 0 && id < vocab)) continue;
            throw new LlavaModalException(
                $"The prompt holds token {id} ('{tokenizer.IdToToken(id)}'), outside the model's vocabulary of {vocab} embeddings (vocab_size): the tokenizer ({tokenizer.VocabSize} tokens) does not fit this model's embedding table.");
        }
    }

    long RemainingFixed(IReadOnlyList<int> ids, int from) =>
        ids.Skip(from).Sum(id => byPlaceholderId.TryGetValue(id, out var b) ? (long)(b.Encoder.FixedTokenCount ?? 0) : 0);

    string Parts(IReadOnlyList<int> ids, long text, IReadOnlyList<PromptChunk>? prepared = null)
    {
        var parts = new List<string> { $"{text} text tokens" };
        foreach (var media in prepared?.OfType<MediaChunk>() ?? [])
            parts.Add($"{media.Positions} for {media.Binding.Modality} {media.Input.Source}");
        int done = prepared?.OfType<MediaChunk>().Count() ?? 0;
        foreach (var group in ids.Where(byPlaceholderId.ContainsKey).Skip(done).GroupBy(id => byPlaceholderId[id]))
            parts.Add(group.Key.Encoder.FixedTokenCount is int n
                ? $"{group.Count()} {group.Key.Modality} input{(group.Count() == 1 ? "" : "s")} of {n} tokens"
                : $"{group.Count()} {group.Key.Modality} input{(group.Count() == 1 ? "" : "s")} not yet counted");
        return string.Join(", ", parts);
    }

    /// <summary>
    /// One plugin call: its own typed errors pass through; anything else it throws is wrapped naming the plugin and the
    /// input (the original kept as the inner exception). Prepared values must be finite (NaN pixels would make every
    /// logit NaN).
    /// </summary>
    static PreparedInput PrepareInput(ModalityBinding binding, ModalityInput input, CancellationToken cancellation)
    {
        PreparedInput prepared;
        try { prepared = binding.Encoder.Prepare(input, cancellation); }
        catch (Exception e) when (e is not (LlavaModalException or OperationCanceledException or OutOfMemoryException))
        {
            throw PluginFailed(binding, input.Describe(), "prepare", e);
        }
        if (!prepared.Values.AllFinite())
        {
            prepared.Dispose();
            throw new LlavaModalException($"{input.Describe()}: the {binding.Modality} plugin ({binding.Encoder.GetType().Name}) prepared values that hold NaN or infinite numbers; the input is refused.");
        }
        return prepared;
    }

    static LlavaModalException PluginFailed(ModalityBinding binding, string source, string step, Exception e) =>
        new($"{source}: the {binding.Modality} plugin ({binding.Encoder.GetType().FullName}) failed to {step} it: {e.GetType().Name}: {e.Message}", e);

    /// <summary>Decoder input [positions, hidden] on the model's device and position ids [axes, positions] (CPU) of a prepared prompt.</summary>
    public (Tensor Embeddings, Tensor Positions) Embed(PreparedPrompt prompt) => (EmbedFrom(prompt, 0), Positions(prompt));

    /// <summary>Position ids [axes, positions] (CPU) of a prepared prompt, as the decoder numbers its chunks.</summary>
    public Tensor Positions(PreparedPrompt prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return decoder.PositionIds([.. prompt.Chunks.Select(c => c.Segment)]);
    }

    /// <summary>
    /// Decoder input [positions - <paramref name="from"/>, hidden] for the positions from <paramref name="from"/> on: chunks
    /// wholly before it are skipped (a cached image is not encoded again); text is embedded in one lookup.
    /// </summary>
    public Tensor EmbedFrom(PreparedPrompt prompt, long from, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (from < 0 || from >= prompt.Positions) throw new ArgumentOutOfRangeException(nameof(from), from, $"must be below the prompt's {prompt.Positions} positions.");
        using var scope = NewDisposeScope();
        var parts = new List<(PromptChunk Chunk, int Skip)>();
        long start = 0;
        foreach (var chunk in prompt.Chunks)
        {
            long end = start + chunk.Positions;
            if (end > from) parts.Add((chunk, (int)Math.Max(0, from - start)));
            start = end;
        }
        var textIds = parts.Where(p => p.Chunk is TextChunk).SelectMany(p => ((TextChunk)p.Chunk).Ids.Skip(p.Skip)).Select(i => (long)i).ToArray();
        var text = textIds.Length > 0 ? decoder.Embed(tensor(textIds, device: decoder.Device)) : null;
        var pieces = new List<Tensor>();
        long offset = 0;
        foreach (var (chunk, skip) in parts)
        {
            if (chunk is TextChunk t)
            {
                pieces.Add(text!.narrow(0, offset, t.Ids.Length - skip));
                offset += t.Ids.Length - skip;
            }
            else if (chunk is MediaChunk m)
            {
                var embedded = EmbedInput(m, cancellation);
                pieces.Add(skip == 0 ? embedded : embedded.narrow(0, skip, embedded.shape[0] - skip));
            }
        }
        var embeddings = (pieces.Count == 1 ? pieces[0].alias() : cat(pieces, 0)).to(decoder.DType);
        return embeddings.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The prompt cache's key of each position: a text token's id, or for a media position a fingerprint of the prepared
    /// input (<see cref="MediaDigest"/>) mixed with its index, high bit set so it never equals a token id.
    /// </summary>
    public static ulong[] CacheKeys(PreparedPrompt prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var keys = new ulong[prompt.Positions];
        int i = 0;
        foreach (var chunk in prompt.Chunks)
        {
            if (chunk is TextChunk t)
            {
                foreach (var id in t.Ids) keys[i++] = (uint)id;
            }
            else if (chunk is MediaChunk m)
            {
                ulong digest = MediaDigest.Of(m.Binding.Modality, m.Input);
                for (int j = 0; j < m.Positions; j++) keys[i++] = (digest + ((ulong)j * 0x9E3779B97F4A7C15UL)) | (1UL << 63);
            }
        }
        return keys;
    }

    /// <summary>Encodes and projects one input; a plugin's untyped failure is wrapped, and NaN or infinite features are refused naming the input.</summary>
    Tensor EmbedInput(MediaChunk m, CancellationToken cancellation)
    {
        Tensor embedded;
        try { embedded = m.Binding.Embed(m.Input, decoder.Device, cancellation); }
        catch (Exception e) when (e is not (LlavaModalException or OperationCanceledException or OutOfMemoryException))
        {
            throw PluginFailed(m.Binding, m.Input.Source, "encode", e);
        }
        if (!embedded.AllFinite())
            throw new LlavaModalException($"{m.Input.Source}: the {m.Binding.Modality} plugin ({m.Binding.Encoder.GetType().Name}) produced NaN or infinite features; the input is refused.");
        return embedded;
    }
}
