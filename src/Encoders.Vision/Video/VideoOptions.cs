namespace LlavaModal.Encoders.Vision.Video;

/// <summary>Limits of the video plugins, how many frames they take from a video file, and where ffmpeg is.</summary>
public sealed record VideoOptions
{
    /// <summary>Default <see cref="MaxFrames"/>.</summary>
    public const int DefaultMaxFrames = 64;

    /// <summary>
    /// Most frames one video may have (default 64): every frame goes through the vision tower, so a long video costs
    /// memory and time in proportion. More frame images are refused (sample them first: <c>ModalityInput.FromFolder(dir, sample: 32)</c>,
    /// CLI <c>--video-frames</c>); a video file is sampled to at most this many.
    /// </summary>
    public int MaxFrames { get; init; } = DefaultMaxFrames;

    /// <summary>Frames LLaVA-OneVision and LLaVA-NeXT-Video take from a video file or animation when <see cref="SampledFrames"/> is not set.</summary>
    public const int DefaultSampledFrames = 16;

    /// <summary>
    /// Frames taken, evenly spaced, from a video given as one file, a video file or an animated GIF, WebP or PNG alike (at most
    /// <see cref="MaxFrames"/>; a shorter video gives all its frames); null for each family's default: 16 for LLaVA-OneVision
    /// and LLaVA-NeXT-Video, <see cref="FramesPerSecond"/> for Qwen2-VL (which rounds a set count to an even one). A video
    /// given as frame images uses them all.
    /// </summary>
    public int? SampledFrames { get; init; }

    /// <summary>Default <see cref="FramesPerSecond"/>: <c>qwen_vl_utils</c>' <c>FPS</c>.</summary>
    public const double DefaultFramesPerSecond = 2.0;

    /// <summary>Frames per second of video Qwen2-VL samples from a video file or animation when <see cref="SampledFrames"/> is not set (default 2, as <c>qwen_vl_utils</c>).</summary>
    public double FramesPerSecond { get; init; } = DefaultFramesPerSecond;

    /// <summary><c>qwen_vl_utils</c>' <c>VIDEO_MAX_PIXELS</c> (768 × 28 × 28 = 602,112): the value to give <see cref="MaxPixelsPerFrame"/> to size video frames as it does.</summary>
    public const long QwenVideoMaxPixels = 768 * 28 * 28;

    /// <summary>Default <see cref="TotalPixels"/>: <c>qwen_vl_utils</c>' <c>VIDEO_TOTAL_PIXELS</c> of the Qwen2-VL release (24,576 × 28 × 28).</summary>
    public const long DefaultTotalPixels = 24576L * 28 * 28;

    /// <summary>
    /// Qwen2-VL only; null (the default) leaves video frames to the image processor's own <c>min_pixels</c>..<c>max_pixels</c>, as
    /// transformers' processor does. Set (e.g. <see cref="QwenVideoMaxPixels"/>), each frame of a video of n frames is first
    /// resized as <c>qwen_vl_utils</c>' <c>fetch_video</c> does: <c>smart_resize</c> (multiples of 28 px) within
    /// <c>VIDEO_MIN_PIXELS</c> (128 × 28 × 28) and <c>max(min(MaxPixelsPerFrame, TotalPixels / n × 2), ⌊128 × 28 × 28 × 1.05⌋)</c>,
    /// so long videos take fewer tokens a frame. CLI: <c>--video-max-pixels N</c>.
    /// </summary>
    public long? MaxPixelsPerFrame { get; init; }

    /// <summary>The pixels all frames of one video may share when <see cref="MaxPixelsPerFrame"/> is set (<c>VIDEO_TOTAL_PIXELS</c>; default <see cref="DefaultTotalPixels"/>).</summary>
    public long TotalPixels { get; init; } = DefaultTotalPixels;

    /// <summary>
    /// The <c>ffmpeg</c> executable that decodes video files (MP4, WebM, MKV, MOV, AVI, ...); null (the default) looks for
    /// <c>ffmpeg</c> on the <c>PATH</c>. Its <c>ffprobe</c> is used when it stands in the same folder (else ffmpeg itself reads the frame count and rate).
    /// CLI: <c>--ffmpeg PATH</c>.
    /// </summary>
    public string? FfmpegPath { get; init; }

    /// <summary>Default <see cref="FfmpegTimeout"/>.</summary>
    public static readonly TimeSpan DefaultFfmpegTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Longest one ffprobe or ffmpeg run on a video may take (default 2 minutes); past it the process tree is killed and the video refused.</summary>
    public TimeSpan FfmpegTimeout { get; init; } = DefaultFfmpegTimeout;
}
