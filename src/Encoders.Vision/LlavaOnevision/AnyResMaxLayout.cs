using LlavaModal.Encoders.Vision.LlavaNext;

namespace LlavaModal.Encoders.Vision.LlavaOnevision;

/// <summary>
/// Where one image's features go under LLaVA-OneVision's <c>anyres_max_N</c>: LLaVA-NeXT's AnyRes layout (tiles, the
/// assembled feature map, unpadding), then, when the unpadded map holds clearly more than N tiles' worth of features
/// (ratio = √(rows·cols / (N·side²)) above 1.1), the map bilinearly shrunk to ⌊rows / ratio⌋ x ⌊cols / ratio⌋, with
/// transformers' arithmetic (Python floats, <c>//</c> on floats, truncating <c>int()</c>). Computed from the image's size
/// alone, before anything is encoded.
/// </summary>
public sealed record AnyResMaxLayout
{
    /// <summary>The threshold above which the map is shrunk (transformers' <c>ratio &gt; 1.1</c>).</summary>
    public const double DownscaleThreshold = 1.1;

    /// <summary>The AnyRes tiles and the unpadded map.</summary>
    public required AnyResLayout Grid { get; init; }

    /// <summary>N of <c>anyres_max_N</c>: tiles' worth of features the map may hold before it is shrunk.</summary>
    public required int MaxTiles { get; init; }

    /// <summary>√(rows·cols / (N·side²)) of the unpadded map.</summary>
    public required double Ratio { get; init; }

    /// <summary>Rows of the packed map (each followed by a newline vector): the unpadded rows, or fewer when shrunk.</summary>
    public required int Rows { get; init; }

    /// <summary>Columns of the packed map.</summary>
    public required int Cols { get; init; }

    /// <summary>True when the unpadded map is shrunk.</summary>
    public bool Downscaled => Ratio > DownscaleThreshold;

    /// <summary>Positions the image takes: the base tile's tokens, then the map with one newline per row.</summary>
    public int TokenCount => Grid.BaseTokens + Rows * (Cols + 1);

    /// <summary>The layout of a <paramref name="width"/> x <paramref name="height"/> image.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A dimension or <paramref name="maxTiles"/> is not positive.</exception>
    public static AnyResMaxLayout Compute(int width, int height, AnyResSettings settings, int maxTiles)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxTiles);
        var grid = settings.Layout(width, height);
        int rows = grid.KeptRows, cols = grid.KeptCols;
        long side = settings.PatchesPerSide;
        double ratio = Math.Sqrt((double)((long)rows * cols) / (maxTiles * side * side));
        if (ratio > DownscaleThreshold)
        {
            rows = (int)FloorDivide(rows, ratio);
            cols = (int)FloorDivide(cols, ratio);
        }
        return new AnyResMaxLayout { Grid = grid, MaxTiles = maxTiles, Ratio = ratio, Rows = rows, Cols = cols };
    }

    /// <summary>Python's <c>a // b</c> on floats (CPython's <c>float_floor_div</c>: through <c>fmod</c>, not <c>floor(a / b)</c>).</summary>
    internal static double FloorDivide(double a, double b)
    {
        double mod = a % b; // C's fmod: the sign of a
        double div = (a - mod) / b;
        if (mod != 0 && (b < 0) != (mod < 0)) div -= 1.0;
        if (div == 0) return Math.CopySign(0.0, a / b);
        double floor = Math.Floor(div);
        return div - floor > 0.5 ? floor + 1.0 : floor;
    }
}
