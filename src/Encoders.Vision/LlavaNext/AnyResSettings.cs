namespace LlavaModal.Encoders.Vision.LlavaNext;

/// <summary>
/// What LLaVA-NeXT's AnyRes needs to know to tile an image and to count its tokens: the resolutions it may choose
/// (<c>image_grid_pinpoints</c>), the side of one tile (the vision tower's <c>image_size</c>, which is also the
/// processor's <c>crop_size</c>) and how many feature vectors one tile yields per side (<c>image_size / patch_size</c>).
/// </summary>
public sealed class AnyResSettings
{
    /// <summary>Creates the settings.</summary>
    /// <param name="pinpoints">The resolutions, in the config's order (ties are broken by it).</param>
    /// <param name="tileSize">Side of one tile in pixels.</param>
    /// <param name="patchesPerSide">Feature vectors per tile side.</param>
    /// <exception cref="ArgumentException">No pinpoints, a pinpoint that is not a positive multiple of the tile size, or a size that is not positive.</exception>
    public AnyResSettings(IReadOnlyList<GridPinpoint> pinpoints, int tileSize, int patchesPerSide)
    {
        ArgumentNullException.ThrowIfNull(pinpoints);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tileSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(patchesPerSide);
        if (pinpoints.Count == 0) throw new ArgumentException("AnyRes needs at least one grid pinpoint.", nameof(pinpoints));
        foreach (var p in pinpoints)
            if (p.Height <= 0 || p.Width <= 0 || p.Height % tileSize != 0 || p.Width % tileSize != 0)
                throw new ArgumentException($"grid pinpoint {p} is not a positive multiple of the {tileSize} px tile in both directions.", nameof(pinpoints));
        Pinpoints = [.. pinpoints];
        TileSize = tileSize;
        PatchesPerSide = patchesPerSide;
    }

    /// <summary>The resolutions an image may be tiled at, as <c>[height, width]</c>, in the config's order.</summary>
    public IReadOnlyList<GridPinpoint> Pinpoints { get; }

    /// <summary>Side of one tile in pixels (the vision tower's input size).</summary>
    public int TileSize { get; }

    /// <summary>Feature vectors per tile side; a tile yields <c>PatchesPerSide²</c>.</summary>
    public int PatchesPerSide { get; }

    /// <summary>Tokens of the base image (the whole image resized to one tile), which come first.</summary>
    public int BaseTokens => PatchesPerSide * PatchesPerSide;

    /// <summary>The layout of a <paramref name="width"/> x <paramref name="height"/> image: its tiles and the positions it takes.</summary>
    public AnyResLayout Layout(int width, int height) => AnyResLayout.Compute(width, height, this);
}
