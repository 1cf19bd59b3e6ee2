using System.Diagnostics;
using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Tokenizers;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Generation;

/// <summary>
/// The autoregressive loop over any <see cref="CausalLanguageModel"/>: left-pads a batch of prompt embeddings (zero
/// embeddings, masked out; padded positions get id 1, as the reference does), prefills the model's KV cache, then decodes
/// one token per step, each new position the row's largest prompt position + 1 + step on every axis. The only host read
/// per step is the chosen ids [B], which stop checks and streaming need anyway.
/// </summary>
sealed class GenerationEngine(CausalLanguageModel model, HfTokenizer tokenizer, IReadOnlyList<int> eosTokenIds, int padTokenId)
{
    /// <summary>Receives each step's raw logits [B, V] (tests compare them with the reference).</summary>
    public Action<Tensor>? StepLogitsObserver { get; set; }

    /// <summary>Generates for every row; <paramref name="onChunk"/> receives (row, chunk) as text becomes final.</summary>
    public GenerationResult[] Run(IReadOnlyList<PromptSequence> rows, GenerationOptions options, CancellationToken cancellation, Action<int, GenerationChunk>? onChunk = null)
    {
        options.Validate();
        if (rows.Count == 0) return [];
        using var noGrad = no_grad();
        using var outer = NewDisposeScope();
        int batch = rows.Count;
        var device = model.Device;
        var lengths = rows.Select(r => r.Embeddings.shape[0]).ToArray();
        long promptLength = lengths.Max();
        long capacity = promptLength + Math.Max(1, options.MaxNewTokens);
        bool padded = lengths.Any(l => l != promptLength);
        int axes = model.Config.PositionDimensions;

        // Left-padded inputs, positions [axes, B, T] and the padding mask, preallocated for the whole run.
        var embeds = zeros([batch, promptLength, model.Config.HiddenSize], model.DType, device);
        var mask = zeros([batch, capacity], ScalarType.Int64, device);
        var positions = ones([axes, batch, promptLength], ScalarType.Int64);
        var lastPosition = new long[batch];
        for (int b = 0; b < batch; b++)
        {
            long offset = promptLength - lengths[b];
            embeds[b].narrow(0, offset, lengths[b]).copy_(rows[b].Embeddings);
            mask[b].narrow(0, offset, capacity - offset).FillScalar_(1L);
            var rowPositions = rows[b].Positions ?? Scalars.Arange(0, lengths[b]).unsqueeze(0).expand(axes, lengths[b]);
            if (rowPositions.shape[0] != axes || rowPositions.shape[1] != lengths[b])
                throw new ArgumentException($"Row {b}: positions have shape [{string.Join(", ", rowPositions.shape)}], expected [{axes}, {lengths[b]}].", nameof(rows));
            positions.select(1, b).narrow(1, offset, lengths[b]).copy_(rowPositions);
            lastPosition[b] = rowPositions.max().item<long>();
        }
        positions = positions.to(device);
        var seen = options.RepetitionPenalty != 1f ? PenaltyBuffer(rows, options.MaxNewTokens, device) : null;
        long seenLength = rows.Max(r => r.PromptIds.Count);
        var generator = options.Temperature > 0 ? new Generator((ulong)(options.Seed ?? Random.Shared.NextInt64()), device) : null;

        var states = rows.Select(r => new RowState(r.PromptIds, (int)r.Embeddings.shape[0], tokenizer.CreateStreamingDecoder(options.SkipSpecialTokens), new StopStringMatcher(options.StopStrings))).ToArray();
        var stopIds = new HashSet<int>(eosTokenIds.Concat(options.StopTokenIds));
        using var cache = model.CreateCache(batch, capacity);

        var clock = Stopwatch.StartNew();
        TimeSpan prefill = TimeSpan.Zero;
        var logits = model.Forward(embeds, ForModel(positions), padded ? mask.narrow(1, 0, promptLength) : null, cache, lastOnly: true).squeeze(1);
        // Decoding continues after each row's largest prompt position, on every axis (for M-RoPE that is its rope delta).
        var lastPositions = tensor(lastPosition, device: device).view(1, batch, 1).expand(axes, batch, 1);
        for (int step = 0; step < options.MaxNewTokens; step++)
        {
            using var stepScope = NewDisposeScope();
            StepLogitsObserver?.Invoke(logits);
            var next = LogitsProcessor.NextTokens(Decodable(logits), seen?.narrow(1, 0, seenLength), options, generator);
            var ids = next.cpu().data<long>().ToArray();
            if (step == 0) prefill = clock.Elapsed;

            for (int b = 0; b < batch; b++)
            {
                var state = states[b];
                if (state.Finish is not null) continue;
                int id = (int)ids[b];
                state.Generated.Add(id);
                var text = state.Matcher.Push(state.Detokenizer.Push(id));
                if (stopIds.Contains(id) || state.Matcher.Stopped) state.Finish = FinishReason.Stop;
                else if (state.Generated.Count == options.MaxNewTokens) state.Finish = FinishReason.Length;
                if (state.Finish is not null) text += state.Matcher.Push(state.Detokenizer.Flush()) + state.Matcher.Flush();
                if (text.Length > 0 || state.Finish is null) onChunk?.Invoke(b, new GenerationChunk(text, id));
            }
            if (states.All(s => s.Finish is not null)) break;
            if (cancellation.IsCancellationRequested)
            {
                foreach (var s in states.Where(s => s.Finish is null)) s.Finish = FinishReason.Cancelled;
                break;
            }

            // Finished rows keep feeding the pad id, as the reference does; their output is ignored.
            var finished = tensor(states.Select(s => s.Finish is not null).ToArray(), device: device);
            var fed = next.MaskedFillScalar(finished, (long)padTokenId).unsqueeze(1);
            if (seen is not null)
            {
                seen.narrow(1, seenLength, 1).copy_(fed);
                seenLength++;
            }
            lastPositions = lastPositions.AddScalar(1L).MoveToOuterDisposeScope();
            long total = promptLength + step + 1;
            var newLogits = model.Forward(model.Embed(fed), ForModel(lastPositions), padded ? mask.narrow(1, 0, total) : null, cache, lastOnly: true).squeeze(1);
            logits.Dispose();
            logits = newLogits.MoveToOuterDisposeScope();
        }
        var decode = clock.Elapsed - prefill;
        return states.Select(s => new GenerationResult(s.PromptIds, s.Generated, s.Matcher.Text, s.Finish ?? FinishReason.Length, s.PromptTokens, prefill, decode)).ToArray();
    }

    /// <summary>Positions as the model takes them: [B, T] for one axis, [axes, B, T] otherwise.</summary>
    Tensor ForModel(Tensor positions) => positions.shape[0] == 1 ? positions.squeeze(0) : positions;

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

    /// <summary>Ids per row for the repetition penalty, with room for the output; unused slots repeat a real id of the row, which gather/scatter treat as a no-op.</summary>
    static Tensor PenaltyBuffer(IReadOnlyList<PromptSequence> rows, int maxNewTokens, Device device)
    {
        int width = rows.Max(r => r.PromptIds.Count) + maxNewTokens;
        var buffer = new long[rows.Count * width];
        for (int b = 0; b < rows.Count; b++)
        {
            var ids = rows[b].PromptIds;
            long filler = ids.Count > 0 ? ids[0] : 0;
            for (int i = 0; i < width; i++) buffer[b * width + i] = i < ids.Count ? ids[i] : filler;
        }
        return tensor(buffer, [rows.Count, width], device: device);
    }

    sealed class RowState(IReadOnlyList<int> promptIds, int promptTokens, StreamingDetokenizer detokenizer, StopStringMatcher matcher)
    {
        public IReadOnlyList<int> PromptIds { get; } = promptIds;
        public int PromptTokens { get; } = promptTokens;
        public StreamingDetokenizer Detokenizer { get; } = detokenizer;
        public StopStringMatcher Matcher { get; } = matcher;
        public List<int> Generated { get; } = [];
        public FinishReason? Finish { get; set; }
    }
}
