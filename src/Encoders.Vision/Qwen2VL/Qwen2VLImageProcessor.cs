using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Encoders.Vision.Preprocessing;

namespace LlavaModal.Encoders.Vision.Qwen2VL;

/// <summary>
/// transformers' <c>Qwen2VLImageProcessor</c> with Pillow: <see cref="SmartResize(int, int)"/> to multiples of patch x merge within
/// [min_pixels, max_pixels], bicubic resize, rescale and normalise, then the frames cut into patches of
/// <c>temporal_patch_size</c> frames x patch² pixels, listed window by window (each merge window's patches consecutive),
/// each patch flattened as (channel, frame, y, x). An image is one frame repeated <c>temporal_patch_size</c> times.
/// </summary>
public sealed class Qwen2VLImageProcessor
{
    readonly PixelNormalizer normalizer;

    /// <summary>Creates the processor.</summary>
    /// <exception cref="ArgumentException">A size is not positive, or <c>image_mean</c> / <c>image_std</c> do not have 3 entries.</exception>
    public Qwen2VLImageProcessor(ImageProcessorConfig config, int patchSize, int mergeSize, int temporalPatchSize, long minPixels, long maxPixels)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.ImageMean.Count != 3 || config.ImageStd.Count != 3)
            throw new ArgumentException("image_mean and image_std need exactly 3 entries (R, G, B).", nameof(config));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(patchSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(mergeSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(temporalPatchSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(minPixels);
        if (maxPixels < minPixels) throw new ArgumentException($"max_pixels ({maxPixels}) is below min_pixels ({minPixels}).", nameof(maxPixels));
        Config = config;
        PatchSize = patchSize;
        MergeSize = mergeSize;
        TemporalPatchSize = temporalPatchSize;
        MinPixels = minPixels;
        MaxPixels = maxPixels;
        normalizer = new PixelNormalizer(config);
    }

    /// <summary>The <c>Qwen2VLImageProcessor</c> defaults for what <c>preprocessor_config.json</c> leaves out: bicubic, rescale 1/255, OpenAI CLIP mean and std.</summary>
    public static ImageProcessorConfig Defaults { get; } = new() { ShortestEdge = null, DoCenterCrop = false };

    /// <summary>Rescale and normalisation settings.</summary>
    public ImageProcessorConfig Config { get; }

    /// <summary>Side of a patch in pixels.</summary>
    public int PatchSize { get; }

    /// <summary>Side of the merge window in patches.</summary>
    public int MergeSize { get; }

    /// <summary>Frames per patch.</summary>
    public int TemporalPatchSize { get; }

    /// <summary>Fewest pixels of a resized image.</summary>
    public long MinPixels { get; }

    /// <summary>Most pixels of a resized image.</summary>
    public long MaxPixels { get; }

    /// <summary>Sides are multiples of this: patch x merge.</summary>
    public int Factor => PatchSize * MergeSize;

    /// <summary>
    /// transformers' <c>smart_resize</c>: both sides rounded (half to even) to multiples of <see cref="Factor"/>, then, when
    /// the area leaves [<see cref="MinPixels"/>, <see cref="MaxPixels"/>], scaled by √ of the excess (floored when too large,
    /// ceiled when too small), keeping the aspect ratio.
    /// </summary>
    /// <returns>The resized (height, width), or the reason the reference refuses the size.</returns>
    public (int Height, int Width, string? Refusal) SmartResize(int height, int width) => SmartResize(height, width, Factor, MinPixels, MaxPixels);

    /// <summary><c>smart_resize</c> with the given factor and pixel range (also <c>qwen_vl_utils</c>' video budget, <see cref="VideoPixelBudget"/>).</summary>
    internal static (int Height, int Width, string? Refusal) SmartResize(int height, int width, int factor, double minPixels, double maxPixels)
    {
        if (height < factor || width < factor)
            return (0, 0, $"height:{height} or width:{width} must be larger than factor:{factor}");
        if ((double)Math.Max(height, width) / Math.Min(height, width) > 200)
            return (0, 0, $"absolute aspect ratio must be smaller than 200, got {(double)Math.Max(height, width) / Math.Min(height, width)}");
        double hBar = Math.Round((double)height / factor, MidpointRounding.ToEven) * factor;
        double wBar = Math.Round((double)width / factor, MidpointRounding.ToEven) * factor;
        if (hBar * wBar > maxPixels)
        {
            double beta = Math.Sqrt((double)height * width / maxPixels);
            hBar = Math.Floor(height / beta / factor) * factor;
            wBar = Math.Floor(width / beta / factor) * factor;
        }
        else if (hBar * wBar < minPixels)
        {
            double beta = Math.Sqrt(minPixels / ((double)height * width));
            hBar = Math.Ceiling(height * beta / factor) * factor;
            wBar = Math.Ceiling(width * beta / factor) * factor;
        }
        return ((int)hBar, (int)wBar, null);
    }

    /// <summary>The patches of one image or of a video's frames (all of one size).</summary>
    /// <param name="frames">One image, or an even number of video frames (a multiple of <see cref="TemporalPatchSize"/>).</param>
    /// <param name="source">Names the input in errors.</param>
    /// <exception cref="InvalidImageException">The size is one the reference refuses (a side under <see cref="Factor"/>, an aspect over 200).</exception>
    /// <exception cref="LlavaModalException">A frame count that does not fill whole patches, or frames of different sizes.</exception>
    public Qwen2VLPatches Preprocess(IReadOnlyList<RgbImage> frames, string source)
    {
        ArgumentNullException.ThrowIfNull(frames);
        if (frames.Count == 0) throw new LlavaModalException($"{source}: no frames.");
        if (frames.Count > 1 && frames.Count % TemporalPatchSize != 0)
            throw new LlavaModalException($"{source}: {frames.Count} frames do not fill whole patches of {TemporalPatchSize} frames; give a multiple of {TemporalPatchSize} (the reference fails on this too).");
        var (height, width, refusal) = Config.DoResize ? SmartResize(frames[0].Height, frames[0].Width) : (frames[0].Height, frames[0].Width, null);
        if (refusal is not null) throw new InvalidImageException(source, $"{frames[0].Width}x{frames[0].Height} cannot be resized for Qwen2-VL: {refusal}.");
        if (height % Factor != 0 || width % Factor != 0)
            throw new InvalidImageException(source, $"{width}x{height} is not a multiple of {Factor} px on both sides, and do_resize is false in the processor's settings.");
        var resized = new List<RgbImage>(frames.Count);
        var planes = new List<float[]>(frames.Count);
        foreach (var frame in frames)
        {
            if ((frame.Width, frame.Height) != (frames[0].Width, frames[0].Height))
                throw new LlavaModalException($"{source}: frame {resized.Count} is {frame.Width}x{frame.Height} but frame 0 is {frames[0].Width}x{frames[0].Height}; the frames of one video must have one size.");
            var image = Config.DoResize ? PillowBicubicResampler.Resize(frame, width, height, Config.Resample) : frame;
            resized.Add(image);
            planes.Add(normalizer.ToPixelValues(image));
        }
        int count = Math.Max(planes.Count, TemporalPatchSize);
        int gridT = count / TemporalPatchSize, gridH = height / PatchSize, gridW = width / PatchSize;
        return new Qwen2VLPatches(resized, Patchify(planes, height, width, gridT, gridH, gridW), gridT, gridH, gridW, height, width);
    }

    /// <summary>[gridT·gridH·gridW, C·T·P²]: patches in (frame group, window row, window column, row in window, column in window) order.</summary>
    float[] Patchify(List<float[]> planes, int height, int width, int gridT, int gridH, int gridW)
    {
        int p = PatchSize, m = MergeSize, tp = TemporalPatchSize;
        int plane = height * width;
        var values = new float[(long)gridT * gridH * gridW * 3 * tp * p * p];
        long at = 0;
        for (int t = 0; t < gridT; t++)
            for (int wy = 0; wy < gridH / m; wy++)
                for (int wx = 0; wx < gridW / m; wx++)
                    for (int iy = 0; iy < m; iy++)
                        for (int ix = 0; ix < m; ix++)
                        {
                            int top = (wy * m + iy) * p, left = (wx * m + ix) * p;
                            for (int c = 0; c < 3; c++)
                                for (int f = 0; f < tp; f++)
                                {
                                    // A single image fills every frame of its patch.
                                    var pixels = planes[Math.Min(t * tp + f, planes.Count - 1)];
                                    for (int y = 0; y < p; y++)
                                    {
                                        Array.Copy(pixels, c * plane + (top + y) * width + left, values, at, p);
                                        at += p;
                                    }
                                }
                        }
        return values;
    }

    /// <summary>Reads the processor from <c>preprocessor_config.json</c> (<c>min_pixels</c>, <c>max_pixels</c>, <c>patch_size</c>, <c>merge_size</c>, <c>temporal_patch_size</c> and the usual rescale and normalise keys).</summary>
    /// <exception cref="ConfigException">A malformed value, naming the file and key.</exception>
    public static Qwen2VLImageProcessor FromDirectory(string directory)
    {
        var path = Path.Combine(directory, ImageProcessorConfig.FileName);
        if (!File.Exists(path)) return new Qwen2VLImageProcessor(Defaults, 14, 2, 2, 56 * 56, 28 * 28 * 1280);
        var json = JsonConfig.Load(path);
        var settings = ImageProcessorConfig.Load(path, Defaults) with { ShortestEdge = null, DoCenterCrop = false };
        // Top-level keys (what transformers 4.45 reads), else the same pair inside size (newer files).
        var size = json.Has("size") && json.TryGet("size", out var s) && s.ValueKind == System.Text.Json.JsonValueKind.Object ? json.Section("size") : null;
        long min = json.Has("min_pixels") ? json.Long("min_pixels") : size?.Long("min_pixels", 56 * 56) ?? 56 * 56;
        long max = json.Has("max_pixels") ? json.Long("max_pixels") : size?.Long("max_pixels", 28 * 28 * 1280) ?? 28 * 28 * 1280;
        if (min <= 0) throw json.Error("min_pixels", $"must be positive, got {min}.");
        if (max < min) throw json.Error("max_pixels", $"{max} is below min_pixels ({min}).");
        int Positive(string key, int fallback)
        {
            int v = json.Int(key, fallback);
            return v > 0 ? v : throw json.Error(key, $"must be positive, got {v}.");
        }
        return new Qwen2VLImageProcessor(settings, Positive("patch_size", 14), Positive("merge_size", 2), Positive("temporal_patch_size", 2), min, max);
    }
}

/// <summary>What <see cref="Qwen2VLImageProcessor.Preprocess"/> made of an image or a video.</summary>
/// <param name="Resized">The frames after the resize, before rescaling (HWC, uint8).</param>
/// <param name="Values">Flattened patches [GridT·GridH·GridW, C·T·P²].</param>
/// <param name="GridT">Patch groups along time.</param>
/// <param name="GridH">Patch rows.</param>
/// <param name="GridW">Patch columns.</param>
/// <param name="Height">Resized height.</param>
/// <param name="Width">Resized width.</param>
public sealed record Qwen2VLPatches(IReadOnlyList<RgbImage> Resized, float[] Values, int GridT, int GridH, int GridW, int Height, int Width)
{
    /// <summary>Patches.</summary>
    public int Count => GridT * GridH * GridW;
}
