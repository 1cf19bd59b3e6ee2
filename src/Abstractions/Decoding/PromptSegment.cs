namespace LlavaModal.Abstractions.Decoding;

/// <summary>
/// A run of prompt positions as the decoder's position scheme sees it: text, or one media input with the grid its
/// tokens form (frames × rows × columns after any merging), which multi-axis rotary positions (M-RoPE) follow.
/// </summary>
/// <param name="Length">Positions the segment takes.</param>
/// <param name="Grid">The media grid, or null for text (and for media laid out as a plain sequence).</param>
public sealed record PromptSegment(int Length, MediaGrid? Grid = null);

/// <summary>How a media input's tokens are arranged: frames × rows × columns (Frames × Height × Width = tokens).</summary>
/// <param name="Frames">Temporal extent (1 for an image).</param>
/// <param name="Height">Rows.</param>
/// <param name="Width">Columns.</param>
public readonly record struct MediaGrid(int Frames, int Height, int Width)
{
    /// <summary>Tokens the grid holds.</summary>
    public int Count => Frames * Height * Width;
}
