namespace LlavaModal.Encoders.Vision.LlavaNext;

/// <summary>
/// Where one image's pixels and features go under LLaVA-NeXT's AnyRes, computed from its size alone (before anything
/// is decoded or encoded), with transformers' arithmetic: Python floats (IEEE doubles) and truncating <c>int()</c>.
/// </summary>
/// <remarks>
/// The image is resized (aspect kept) to fit the chosen pinpoint, centred on a black canvas, cut into tiles; the tiles'
/// feature maps are put back together (<see cref="FeatureRows"/> x <see cref="FeatureCols"/>), the rows or columns that
/// only saw padding are cut off (unpadding), and one newline vector follows every remaining row. The base image (the
/// whole image in one tile) comes first.
/// </remarks>
public sealed record AnyResLayout
{
    /// <summary>Original width.</summary>
    public required int Width { get; init; }

    /// <summary>Original height.</summary>
    public required int Height { get; init; }

    /// <summary>The chosen resolution.</summary>
    public required GridPinpoint Best { get; init; }

    /// <summary>Width of the image resized to fit <see cref="Best"/>, aspect kept.</summary>
    public required int ResizedWidth { get; init; }

    /// <summary>Height of the image resized to fit <see cref="Best"/>, aspect kept.</summary>
    public required int ResizedHeight { get; init; }

    /// <summary>Black columns added on the left AND on the right.</summary>
    public required int PadLeft { get; init; }

    /// <summary>Black rows added on the top AND at the bottom.</summary>
    public required int PadTop { get; init; }

    /// <summary>Tile rows of the canvas.</summary>
    public required int TileRows { get; init; }

    /// <summary>Tile columns of the canvas.</summary>
    public required int TileCols { get; init; }

    /// <summary>Rows of the assembled feature map, before unpadding.</summary>
    public required int FeatureRows { get; init; }

    /// <summary>Columns of the assembled feature map, before unpadding.</summary>
    public required int FeatureCols { get; init; }

    /// <summary>First feature row kept by unpadding.</summary>
    public required int KeptTop { get; init; }

    /// <summary>First feature column kept by unpadding.</summary>
    public required int KeptLeft { get; init; }

    /// <summary>Feature rows kept by unpadding (each followed by a newline vector).</summary>
    public required int KeptRows { get; init; }

    /// <summary>Feature columns kept by unpadding.</summary>
    public required int KeptCols { get; init; }

    /// <summary>Tokens of the base image.</summary>
    public required int BaseTokens { get; init; }

    /// <summary>Canvas width: one pixel short of <see cref="Best"/> when the padding is odd, as in the reference.</summary>
    public int CanvasWidth => ResizedWidth + 2 * PadLeft;

    /// <summary>Canvas height: one pixel short of <see cref="Best"/> when the padding is odd.</summary>
    public int CanvasHeight => ResizedHeight + 2 * PadTop;

    /// <summary>Tiles through the vision tower: the base image and the canvas tiles.</summary>
    public int Tiles => 1 + TileRows * TileCols;

    /// <summary>Positions the image takes in the decoder's sequence: base tokens, then the kept grid with one newline per row.</summary>
    public int TokenCount => BaseTokens + KeptRows * (KeptCols + 1);

    /// <summary>The layout of a <paramref name="width"/> x <paramref name="height"/> image under <paramref name="settings"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is not positive.</exception>
    public static AnyResLayout Compute(int width, int height, AnyResSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        var best = SelectBestResolution(width, height, settings.Pinpoints);
        var (resizedHeight, resizedWidth) = FitInside(height, width, best);
        // The reference measures the resized image again before padding; the fit of a fitted image is itself.
        var (checkHeight, checkWidth) = FitInside(resizedHeight, resizedWidth, best);
        int tileRows = best.Height / settings.TileSize, tileCols = best.Width / settings.TileSize;
        int rows = tileRows * settings.PatchesPerSide, cols = tileCols * settings.PatchesPerSide;
        var (keptTop, keptRows, keptLeft, keptCols) = Unpad(width, height, rows, cols);
        return new AnyResLayout
        {
            Width = width,
            Height = height,
            Best = best,
            ResizedWidth = resizedWidth,
            ResizedHeight = resizedHeight,
            PadLeft = (best.Width - checkWidth) / 2,
            PadTop = (best.Height - checkHeight) / 2,
            TileRows = tileRows,
            TileCols = tileCols,
            FeatureRows = rows,
            FeatureCols = cols,
            KeptTop = keptTop,
            KeptLeft = keptLeft,
            KeptRows = keptRows,
            KeptCols = keptCols,
            BaseTokens = settings.BaseTokens,
        };
    }

    /// <summary>
    /// transformers' <c>select_best_resolution</c>: the pinpoint that keeps the most of the image's pixels once it is
    /// scaled to fit (never counting more than the original has), ties broken by the least wasted area, then by order.
    /// </summary>
    public static GridPinpoint SelectBestResolution(int width, int height, IReadOnlyList<GridPinpoint> pinpoints)
    {
        ArgumentNullException.ThrowIfNull(pinpoints);
        GridPinpoint? best = null;
        long maxEffective = 0, minWasted = long.MaxValue;
        long original = (long)width * height;
        foreach (var p in pinpoints)
        {
            double scale = Math.Min((double)p.Width / width, (double)p.Height / height);
            long scaledWidth = (long)(width * scale), scaledHeight = (long)(height * scale);
            long effective = Math.Min(scaledWidth * scaledHeight, original);
            long wasted = (long)p.Width * p.Height - effective;
            if (effective > maxEffective || (effective == maxEffective && wasted < minWasted))
            {
                maxEffective = effective;
                minWasted = wasted;
                best = p;
            }
        }
        // Python's loop leaves best_fit None when every pinpoint scales the image to nothing; the first pinpoint is then
        // as good as any (no real pinpoint gets there: it needs an image thousands of times longer than wide).
        return best ?? pinpoints[0];
    }

    /// <summary>transformers' <c>_get_patch_output_size</c>: the size (height, width) that fits <paramref name="target"/> with the aspect kept, rounded up.</summary>
    static (int Height, int Width) FitInside(int height, int width, GridPinpoint target)
    {
        double scaleWidth = (double)target.Width / width, scaleHeight = (double)target.Height / height;
        return scaleWidth < scaleHeight
            ? ((int)Math.Min(Math.Ceiling(height * scaleWidth), target.Height), target.Width)
            : (target.Height, (int)Math.Min(Math.Ceiling(width * scaleHeight), target.Width));
    }

    /// <summary>transformers' <c>unpad_image</c> on a <paramref name="rows"/> x <paramref name="cols"/> map: the rows (or columns) that show only padding removed evenly from both ends.</summary>
    static (int Top, int Rows, int Left, int Cols) Unpad(int width, int height, int rows, int cols)
    {
        double originalAspect = (double)width / height, currentAspect = (double)cols / rows;
        if (originalAspect > currentAspect)
        {
            int newHeight = (int)(height * ((double)cols / width));
            int padding = (rows - newHeight) / 2;
            return (padding, rows - 2 * padding, 0, cols);
        }
        int newWidth = (int)(width * ((double)rows / height));
        int pad = (cols - newWidth) / 2;
        return (0, rows, pad, cols - 2 * pad);
    }
}
