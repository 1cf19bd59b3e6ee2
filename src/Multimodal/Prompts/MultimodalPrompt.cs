using LlavaModal.Abstractions.Modality;

namespace LlavaModal.Multimodal.Prompts;

/// <summary>A prompt with its media inputs, in the order their placeholders appear.</summary>
/// <param name="Text">Prompt text with placeholders (<c>&lt;image&gt;</c>).</param>
/// <param name="Inputs">One input per placeholder.</param>
public sealed record MultimodalPrompt(string Text, IReadOnlyList<ModalityInput> Inputs);
