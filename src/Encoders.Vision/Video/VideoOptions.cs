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
