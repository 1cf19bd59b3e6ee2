namespace LlavaModal.Multimodal.Prompts;

/// <summary>The positions one media input takes in the decoder's sequence, known once it is prepared (before it is encoded).</summary>
/// <param name="Modality">The input's modality (<c>image</c>, <c>audio</c>).</param>
/// <param name="Source">Where it came from (a file path, or a description).</param>
/// <param name="Start">Its first position.</param>
/// <param name="Tokens">Positions it takes (an AnyRes image: base tile, unpadded grid and one newline per row).</param>
public sealed record InputTokens(string Modality, string Source, int Start, int Tokens);
