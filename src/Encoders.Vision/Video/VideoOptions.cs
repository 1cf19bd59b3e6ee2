namespace LlavaModal.Encoders.Vision.Video;

/// <summary>Limits of the video plugins.</summary>
public sealed record VideoOptions
{
    /// <summary>Default <see cref="MaxFrames"/>.</summary>
    public const int DefaultMaxFrames = 64;

    /// <summary>
    /// Most frames one video may have (default 64): every frame goes through the vision tower, so a long video costs
    /// memory and time in proportion. More is refused; sample the frames first (<c>ModalityInput.FromFolder(dir, sample: 32)</c>,
    /// CLI <c>--video-frames</c>).
    /// </summary>
    public int MaxFrames { get; init; } = DefaultMaxFrames;

    /// <summary>Default <see cref="SampledFrames"/>.</summary>
    public const int DefaultSampledFrames = 16;

    /// <summary>
    /// Frames taken, evenly spaced from first to last, from a video given as one file (an animated GIF, WebP or PNG; default
    /// 16, at most <see cref="MaxFrames"/>); a shorter animation gives all its frames. A video given as frame images uses them all.
    /// </summary>
    public int SampledFrames { get; init; } = DefaultSampledFrames;
}
