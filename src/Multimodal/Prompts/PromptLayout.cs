namespace LlavaModal.Multimodal.Prompts;

/// <summary>A prompt's token budget: what it takes in the decoder's sequence, computed before anything is encoded.</summary>
/// <param name="PromptIds">The tokenised prompt before media expansion (placeholders as their ids).</param>
/// <param name="Positions">Positions the whole prompt takes, media included.</param>
/// <param name="Inputs">Each media input's positions, in prompt order.</param>
public sealed record PromptLayout(IReadOnlyList<int> PromptIds, int Positions, IReadOnlyList<InputTokens> Inputs);
