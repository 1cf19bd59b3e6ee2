using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Encoders.Vision.Video;

namespace LlavaModal.Encoders.Vision.Qwen2VL;

/// <summary>
/// <c>qwen_vl_utils</c>' video frame budget (<c>fetch_video</c>, the Qwen2-VL release), applied when
/// <see cref="VideoOptions.MaxPixelsPerFrame"/> is set: a video of n frames may use
/// <c>max(min(MaxPixelsPerFrame, TotalPixels / n × 2), ⌊VIDEO_MIN_PIXELS × 1.05⌋)</c> pixels a frame, and its frames are
/// resized to <c>smart_resize(h, w, 28, VIDEO_MIN_PIXELS, that)</c> before the image processor (whose own
/// <c>smart_resize</c> then keeps that size when it lies within its range). transformers' processor alone does not shrink
/// video frames; the reference's model cards feed it through <c>qwen_vl_utils</c>, which does.
/// </summary>
static class VideoPixelBudget
{
    /// <summary><c>IMAGE_FACTOR</c>: patch 14 × merge 2.</summary>
    public const int Factor = 28;

    /// <summary><c>VIDEO_MIN_PIXELS</c>: 128 × 28 × 28.</summary>
    public const long MinPixels = 128 * 28 * 28;

    /// <summary><c>FRAME_FACTOR</c>: frames come in pairs.</summary>
    const int FrameFactor = 2;

    /// <summary>The most pixels each frame of a video of <paramref name="frames"/> frames may have.</summary>
    public static double MaxPixels(int frames, long maxPerFrame, long totalPixels) =>
        Math.Max(Math.Min(maxPerFrame, (double)totalPixels / Math.Max(frames, FrameFactor) * FrameFactor), (long)(MinPixels * 1.05));

    /// <summary>The (height, width) frames of <paramref name="height"/> x <paramref name="width"/> are resized to, or why the reference refuses them.</summary>
    public static (int Height, int Width, string? Refusal) Size(int height, int width, int frames, long maxPerFrame, long totalPixels) =>
        Qwen2VLImageProcessor.SmartResize(height, width, Factor, MinPixels, MaxPixels(frames, maxPerFrame, totalPixels));

    /// <summary>The frames resized to the budget (Pillow's bicubic), or as they are when <see cref="VideoOptions.MaxPixelsPerFrame"/> is null.</summary>
    /// <exception cref="InvalidImageException">A size the reference refuses (an aspect ratio over 200).</exception>
    public static IReadOnlyList<RgbImage> Apply(IReadOnlyList<RgbImage> frames, VideoOptions options, string source)
    {
        if (options.MaxPixelsPerFrame is not long maxPerFrame || frames.Count == 0) return frames;
        var (height, width, refusal) = Size(frames[0].Height, frames[0].Width, frames.Count, maxPerFrame, options.TotalPixels);
        if (refusal is not null) throw new InvalidImageException(source, $"{frames[0].Width}x{frames[0].Height} frames cannot be fitted to the video pixel budget: {refusal}.");
        return [.. frames.Select(f => (f.Width, f.Height) == (width, height) ? f : PillowBicubicResampler.Resize(f, width, height))];
    }
}
