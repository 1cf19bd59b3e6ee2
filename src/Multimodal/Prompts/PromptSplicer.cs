using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using static TorchSharp.torch;

namespace LlavaModal.Multimodal.Prompts;

/// <summary>Where one input's embeddings sit in the spliced sequence.</summary>
/// <param name="Modality">The input's modality.</param>
/// <param name="Start">First position.</param>
/// <param name="Length">Positions it takes.</param>
public sealed record MediaSpan(string Modality, int Start, int Length);

/// <summary>A prompt ready for the decoder: ids before expansion, the spliced embeddings, and where each input went.</summary>
internal sealed record SplicedPrompt(IReadOnlyList<int> Ids, Tensor Embeddings, IReadOnlyList<MediaSpan> Spans);

/// <summary>
/// Splices media into a tokenised prompt, in prompt order: every placeholder id is replaced by the projected
/// embeddings of the next input of its modality. Counts are checked before anything is encoded, so a mismatch
/// is an error naming both numbers rather than a shape error deep in the model.
/// </summary>
internal sealed class PromptSplicer(LanguageModel language, IReadOnlyList<ModalityBinding> bindings, IReadOnlyDictionary<int, ModalityBinding> byPlaceholderId)
{
    /// <summary>Routes each input to its binding: by its <see cref="ModalityInput.Modality"/>, else by the first plugin that accepts it.</summary>
    public ModalityBinding Route(ModalityInput input)
    {
        if (input.Modality is { } modality)
        {
            return bindings.FirstOrDefault(b => b.Encoder.Modality == modality)
                ?? throw new LlavaModalException($"{input.Describe()}: no '{modality}' plugin is loaded for this model (loaded: {Loaded()}).");
        }
        return bindings.FirstOrDefault(b => b.Encoder.Accepts(input))
            ?? throw new LlavaModalException($"{input.Describe()}: no loaded plugin accepts media type '{input.MediaType ?? "unknown"}' (loaded: {Loaded()}).");
    }

    string Loaded() => bindings.Count == 0 ? "none" : string.Join(", ", bindings.Select(b => $"{b.Encoder.Modality} {b.Encoder.Placeholder}"));

    /// <summary>Tokenises, checks counts, prepares and encodes every input, and splices. Runs under the model's lock.</summary>
    public SplicedPrompt Splice(string prompt, IReadOnlyList<ModalityInput> inputs)
    {
        var ids = language.Tokenizer.Encode(prompt);
        var queues = bindings.ToDictionary(b => b.Encoder.Modality, _ => new Queue<ModalityInput>());
        foreach (var input in inputs) queues[Route(input).Encoder.Modality].Enqueue(input);
        foreach (var binding in bindings)
        {
            int placeholders = ids.Count(id => byPlaceholderId.TryGetValue(id, out var b) && b == binding);
            int given = queues[binding.Encoder.Modality].Count;
            if (placeholders != given)
                throw new LlavaModalException(
                    $"The prompt has {placeholders} {binding.Encoder.Placeholder} placeholder{(placeholders == 1 ? "" : "s")} but {given} {binding.Encoder.Modality} input{(given == 1 ? " was" : "s were")} given.");
        }

        // Prepare everything (decode, preprocess) before the first forward pass: bad input fails fast and token counts are known.
        var prepared = new List<(ModalityBinding Binding, PreparedInput Input)>();
        try
        {
            foreach (var id in ids)
                if (byPlaceholderId.TryGetValue(id, out var binding))
                    prepared.Add((binding, binding.Encoder.Prepare(queues[binding.Encoder.Modality].Dequeue())));

            var device = language.Model.Device;
            using var scope = NewDisposeScope();
            var textIds = ids.Select(id => byPlaceholderId.ContainsKey(id) ? 0 : id).ToList();
            var text = language.EmbedIds(textIds);
            var pieces = new List<Tensor>();
            var spans = new List<MediaSpan>();
            int position = 0, from = 0, next = 0;
            for (int i = 0; i < ids.Count; i++)
            {
                if (!byPlaceholderId.ContainsKey(ids[i])) continue;
                if (i > from) pieces.Add(text.narrow(0, from, i - from));
                position += i - from;
                var (binding, input) = prepared[next++];
                var media = Encode(binding, input, device);
                pieces.Add(media);
                spans.Add(new MediaSpan(binding.Encoder.Modality, position, (int)media.shape[0]));
                position += (int)media.shape[0];
                from = i + 1;
            }
            if (from < ids.Count) pieces.Add(text.narrow(0, from, ids.Count - from));
            var embeddings = (pieces.Count == 1 ? pieces[0].alias() : cat(pieces, 0)).to(language.Model.DType);
            return new SplicedPrompt(ids, embeddings.MoveToOuterDisposeScope(), spans);
        }
        finally
        {
            foreach (var (_, input) in prepared) input.Dispose();
        }
    }

    static Tensor Encode(ModalityBinding binding, PreparedInput input, Device device)
    {
        using var scope = NewDisposeScope();
        var features = binding.Encoder.Encode(input, device);
        if (features.dim() != 2 || features.shape[1] != binding.Encoder.OutputWidth)
            throw new LlavaModalException($"{input.Source}: the {binding.Encoder.Modality} encoder returned features of shape [{string.Join(", ", features.shape)}], expected [tokens, {binding.Encoder.OutputWidth}].");
        var projected = binding.Projector.Project(features);
        if (projected.shape[0] != input.TokenCount)
            throw new LlavaModalException($"{input.Source}: {binding.Encoder.Modality} features and tokens do not match: the plugin announced {input.TokenCount} tokens but produced {projected.shape[0]}.");
        return projected.MoveToOuterDisposeScope();
    }
}
