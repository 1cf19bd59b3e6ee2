namespace LlavaModal.Multimodal.Prompts;

/// <summary>Where one input's embeddings sit in the spliced sequence.</summary>
/// <param name="Modality">The input's modality.</param>
/// <param name="Start">First position.</param>
/// <param name="Length">Positions it takes.</param>
public sealed record MediaSpan(string Modality, int Start, int Length);
