namespace LlavaModal.Multimodal.Prompts;

/// <summary>A prompt tokenised and split into chunks, every media input prepared exactly once; owns the prepared inputs.</summary>
/// <param name="Ids">The tokenised prompt before media expansion (placeholders as their ids).</param>
/// <param name="Chunks">Text and media chunks in prompt order.</param>
sealed record PreparedPrompt(IReadOnlyList<int> Ids, IReadOnlyList<PromptChunk> Chunks) : IDisposable
{
    /// <summary>Positions the whole prompt takes.</summary>
    public int Positions => Chunks.Sum(c => c.Positions);

    /// <summary>Where each media input goes.</summary>
    public IReadOnlyList<MediaSpan> Spans()
    {
        var spans = new List<MediaSpan>();
        int position = 0;
        foreach (var chunk in Chunks)
        {
            if (chunk is MediaChunk media) spans.Add(new MediaSpan(media.Binding.Modality, position, media.Positions));
            position += chunk.Positions;
        }
        return spans;
    }

    /// <summary>The token budget: total positions and each input's.</summary>
    public PromptLayout Layout()
    {
        var inputs = new List<InputTokens>();
        int position = 0;
        foreach (var chunk in Chunks)
        {
            if (chunk is MediaChunk media) inputs.Add(new InputTokens(media.Binding.Modality, media.Input.Source, position, media.Positions));
            position += chunk.Positions;
        }
        return new PromptLayout(Ids, position, inputs);
    }

    public void Dispose()
    {
        foreach (var chunk in Chunks)
            if (chunk is MediaChunk media) media.Input.Dispose();
    }
}
