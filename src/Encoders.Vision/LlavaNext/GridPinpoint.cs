namespace LlavaModal.Encoders.Vision.LlavaNext;

/// <summary>One resolution AnyRes may tile an image at (an entry of <c>image_grid_pinpoints</c>, written <c>[height, width]</c>).</summary>
/// <param name="Height">Height in pixels.</param>
/// <param name="Width">Width in pixels.</param>
public readonly record struct GridPinpoint(int Height, int Width)
{
    /// <summary>The pinpoints of the llava-v1.6 checkpoints and of transformers' <c>LlavaNextConfig</c> / <c>LlavaNextImageProcessor</c> defaults: 336 px tiles in 1x2, 2x1, 2x2, 3x1 and 1x3 grids.</summary>
    public static IReadOnlyList<GridPinpoint> LlavaV16 { get; } = [new(336, 672), new(672, 336), new(672, 672), new(1008, 336), new(336, 1008)];

    /// <inheritdoc />
    public override string ToString() => $"[{Height}, {Width}]";
}
