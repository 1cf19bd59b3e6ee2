using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Encoders.Vision.Preprocessing;

namespace LlavaModal.Encoders.Vision.Video;

/// <summary>
/// The frames of a video input, decoded: a video is given as its frame images (<see cref="ModalityInput.Frames"/>, e.g.
/// <see cref="ModalityInput.FromFolder"/>), every one used, in order, as the reference's video processors use the
/// frames they are handed; or as an animated GIF, WebP or PNG, whose frames are composited and sampled by the family's
/// rule (<see cref="FrameRule"/>) as a video file's are, at the rate its frame durations give (<see cref="AnimationTiming"/>);
/// or as any other video file, decoded by an ffmpeg executable (<see cref="FfmpegFrames"/>) and sampled by that rule.
/// </summary>
static class VideoFrames
{
    /// <summary>Decodes every frame; all must have one size.</summary>
    /// <exception cref="InputLimitException">More frames than <see cref="VideoOptions.MaxFrames"/>.</exception>
    /// <exception cref="LlavaModalException">Not a frame sequence, no frames, frames of different sizes, or a frame that does not decode (naming it).</exception>
    /// <exception cref="VideoDecodeException">A video file without ffmpeg, or one ffmpeg fails on (with its error output).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was cancelled (checked between frames; an ffmpeg run is killed).</exception>
    public static IReadOnlyList<RgbImage> Read(ModalityInput input, ImageLoader loader, VideoOptions options, CancellationToken cancellation = default) =>
        Read(input, loader, options, FrameRule.Uniform, cancellation);

    /// <inheritdoc cref="Read(ModalityInput, ImageLoader, VideoOptions, CancellationToken)"/>
    /// <param name="input">The video.</param>
    /// <param name="loader">Decodes frame images.</param>
    /// <param name="options">Limits, sampling and where ffmpeg is.</param>
    /// <param name="rule">How the family samples a video file's frames.</param>
    /// <param name="cancellation">Stops the work.</param>
    public static IReadOnlyList<RgbImage> Read(ModalityInput input, ImageLoader loader, VideoOptions options, FrameRule rule, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(input);
        var source = input.Describe();
        if (input.Frames is null && AnimatedFrames.IsAnimatedFormat(input.Data.Span))
            return AnimatedFrames.Read(input.Data, source, loader.Options, rule, options, cancellation);
        if (input.Frames is null && ApngFrames.IsPng(input.Data.Span))
            return ApngFrames.Read(input.Data, source, loader, rule, options, cancellation);
        if (input.Frames is not { } frames)
            return FfmpegFrames.Read(input.Data, source, input.MediaType, loader.Options, options, rule, cancellation);
        if (frames.Count == 0) throw new LlavaModalException($"{source}: the video has no frames.");
        if (frames.Count > options.MaxFrames)
            throw new InputLimitException("VideoOptions.MaxFrames", options.MaxFrames, frames.Count,
                $"{source}: the video has {frames.Count} frames, over the limit of {options.MaxFrames} (LlavaVisionOptions.Video.MaxFrames); sample fewer frames (ModalityInput.FromFolder(dir, sample: N), CLI --video-frames N) or raise the limit.");

        var decoded = new List<RgbImage>(frames.Count);
        foreach (var frame in frames)
        {
            cancellation.ThrowIfCancellationRequested();
            var image = loader.Load(frame.Data.ToArray(), frame.Describe());
            if (decoded.Count > 0 && (image.Width, image.Height) != (decoded[0].Width, decoded[0].Height))
                throw new LlavaModalException($"{source}: frame {decoded.Count} ({frame.Describe()}) is {image.Width}x{image.Height} but frame 0 is {decoded[0].Width}x{decoded[0].Height}; the frames of one video must have one size.");
            decoded.Add(image);
        }
        return decoded;
    }
}
