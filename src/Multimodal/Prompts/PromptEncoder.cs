using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Tokenizers;
using static TorchSharp.torch;

namespace LlavaModal.Multimodal.Prompts;

/// <summary>
/// Turns a prompt into decoder input in two steps: <see cref="Prepare"/> tokenises it, matches its placeholders with its
/// inputs, has each input's plugin prepare it (decode, preprocess: the only call of <see cref="IModalityEncoder.Prepare"/>)
/// and checks every count before anything is encoded; <see cref="Embed"/> embeds text and media chunks in prompt order
/// and numbers their positions.
/// </summary>
sealed class PromptEncoder(HfTokenizer tokenizer, ModalityRouter router, IReadOnlyDictionary<int, ModalityBinding> byPlaceholderId, CausalLanguageModel decoder)
{
    /// <exception cref="LlavaModalException">Placeholder and input counts differ, or an input cannot be read (named in the message).</exception>
    public PreparedPrompt Prepare(MultimodalPrompt prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
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

        // Prepare everything (decode, preprocess) before the first forward pass: bad input fails fast and token counts are known.
        var chunks = new List<PromptChunk>();
        try
        {
            int from = 0;
            for (int i = 0; i < ids.Count; i++)
            {
                if (!byPlaceholderId.TryGetValue(ids[i], out var binding)) continue;
                if (i > from) chunks.Add(new TextChunk([.. ids.Skip(from).Take(i - from)]));
                chunks.Add(new MediaChunk(binding, binding.Encoder.Prepare(queues[binding].Dequeue())));
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

    /// <summary>Decoder input [positions, hidden] on the model's device and position ids [axes, positions] (CPU) of a prepared prompt.</summary>
    public (Tensor Embeddings, Tensor Positions) Embed(PreparedPrompt prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        using var scope = NewDisposeScope();
        var device = decoder.Device;
        var textIds = prompt.Chunks.OfType<TextChunk>().SelectMany(c => c.Ids).Select(i => (long)i).ToArray();
        var text = textIds.Length > 0 ? decoder.Embed(tensor(textIds, device: device)) : null;
        var pieces = new List<Tensor>();
        long offset = 0;
        foreach (var chunk in prompt.Chunks)
        {
            if (chunk is TextChunk t)
            {
                pieces.Add(text!.narrow(0, offset, t.Ids.Length));
                offset += t.Ids.Length;
            }
            else if (chunk is MediaChunk m)
            {
                pieces.Add(m.Binding.Embed(m.Input, device));
            }
        }
        var embeddings = (pieces.Count == 1 ? pieces[0].alias() : cat(pieces, 0)).to(decoder.DType);
        var positions = decoder.PositionIds([.. prompt.Chunks.Select(c => c.Segment)]);
        return (embeddings.MoveToOuterDisposeScope(), positions.MoveToOuterDisposeScope());
    }
}
