using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Encoders.Vision.Preprocessing;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Video;

/// <summary>
/// What every video plugin over a shared vision tower has in common: the <c>&lt;video&gt;</c> marker, the media types it
/// accepts, and the preparation of an input into pixel values [frames, 3, S, S] (frames sampled uniformly, each one
/// preprocessed to the tower's size). A family adds only its token count per frame count and its <see cref="Encode"/>.
/// </summary>
public abstract class VideoFrameEncoder : IModalityEncoder
{
    readonly ImageLoader loader;

    /// <summary>Checks that the tower's features form a square map and that the processor makes frames of the tower's size.</summary>
    /// <exception cref="ArgumentException">The tower's features do not form a square map, or the processor's frames are not the tower's size.</exception>
    private protected VideoFrameEncoder(VisionTower tower, IImageProcessor frameProcessor, (int Width, int Height) frameSize, VideoOptions? options, ImageLoader? loader)
    {
        ArgumentNullException.ThrowIfNull(tower);
        ArgumentNullException.ThrowIfNull(frameProcessor);
        int side = (int)Math.Round(Math.Sqrt(tower.TokenCount));
        if (side * side != tower.TokenCount)
            throw new ArgumentException($"The vision tower yields {tower.TokenCount} features per frame, not a square map the video pooling can shrink.", nameof(tower));
        if (frameSize.Width != tower.ImageSize || frameSize.Height != tower.ImageSize)
            throw new ArgumentException($"The frames are made {frameSize.Width}x{frameSize.Height} but the vision tower takes {tower.ImageSize}x{tower.ImageSize}.", nameof(frameProcessor));
        Tower = tower;
        FrameProcessor = frameProcessor;
        Options = options ?? new VideoOptions();
        this.loader = loader ?? new ImageLoader();
        Side = side;
    }

    /// <summary>The vision tower, owned by the image plugin.</summary>
    private protected VisionTower Tower { get; }

    /// <summary>Preprocesses one frame to the tower's input.</summary>
    public IImageProcessor FrameProcessor { get; }

    /// <summary>Frame limits and sampling.</summary>
    public VideoOptions Options { get; }

    /// <summary>Side of one frame's feature map before pooling (its tokens are <c>Side²</c>).</summary>
    public int Side { get; }

    /// <summary>Positions a video of <paramref name="frames"/> frames takes, known before anything is encoded.</summary>
    public abstract int TokenCount(int frames);

    /// <inheritdoc />
    public string Modality => "video";

    /// <inheritdoc />
    public string Placeholder => "<video>";

    /// <inheritdoc />
    public IReadOnlyList<string> MediaTypes { get; } = ["video/*"];

    /// <inheritdoc />
    public int OutputWidth => Tower.OutputWidth;

    /// <summary>Null: the token count depends on the number of frames.</summary>
    public int? FixedTokenCount => null;

    /// <inheritdoc />
    public bool Accepts(ModalityInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return input.Frames is not null || LlavaModal.Abstractions.Modality.MediaTypes.Matches(input.MediaType, "video/*");
    }

    /// <summary>Decodes and preprocesses the frames: pixel values [frames, 3, S, S], with the frame count and size in the metadata.</summary>
    /// <exception cref="LlavaModal.Abstractions.LlavaModalException">No frames, too many, frames of different sizes, or one that does not decode (named in the message).</exception>
    public PreparedInput Prepare(ModalityInput input) => Prepare(input, CancellationToken.None);

    /// <inheritdoc cref="Prepare(ModalityInput)"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was cancelled (checked between frames).</exception>
    public PreparedInput Prepare(ModalityInput input, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(input);
        var frames = VideoFrames.Read(input, loader, Options, FrameRule.Uniform, cancellation);
        return VideoPixels.Prepare(frames, FrameProcessor, Tower.ImageSize, TokenCount(frames.Count), input.Describe(), cancellation);
    }

    /// <inheritdoc />
    public abstract Tensor Encode(PreparedInput input, Device device);

    /// <summary>Releases what the plugin owns (never the tower, which belongs to the image plugin).</summary>
    public virtual void Dispose() => GC.SuppressFinalize(this);
}
