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
}
