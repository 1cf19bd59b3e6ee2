using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Encoders.Vision.Video;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.LlavaOnevision;

/// <summary>
/// LLaVA-OneVision's video plugin: every frame resized to the tower's size whatever its aspect, rescaled and normalised
/// (<c>LlavaOnevisionVideoProcessor</c>'s steps), run through the vision tower it shares with the image plugin. A video
/// takes <c>frames × ⌈side/2⌉² + 1</c> positions (each frame's map pooled to half its side, one newline for the whole
/// video), known from the frame count before anything is encoded; <see cref="OnevisionVideoBinding"/> projects and pools.
/// </summary>
public sealed class OnevisionVideoEncoder : IModalityEncoder
{
    readonly VisionTower tower;
    readonly ImageLoader loader;

    /// <summary>Creates the plugin over a tower owned elsewhere (the image plugin's).</summary>
    /// <param name="tower">The shared vision tower; not disposed by this plugin.</param>
    /// <param name="frameProcessor">Resizes, rescales and normalises one frame to the tower's input.</param>
    /// <param name="options">Frame limits.</param>
    /// <param name="loader">Decodes the frames.</param>
    /// <exception cref="ArgumentException">The tower's features do not form a square map, or the processor's frames are not the tower's size.</exception>
    public OnevisionVideoEncoder(VisionTower tower, IImageProcessor frameProcessor, VideoOptions? options = null, ImageLoader? loader = null)
    {
        ArgumentNullException.ThrowIfNull(tower);
        ArgumentNullException.ThrowIfNull(frameProcessor);
        int side = (int)Math.Round(Math.Sqrt(tower.TokenCount));
        if (side * side != tower.TokenCount)
            throw new ArgumentException($"The vision tower yields {tower.TokenCount} features per frame, not a square map the video pooling can halve.", nameof(tower));
        if (frameProcessor.Config.ResizeWidth != tower.ImageSize || frameProcessor.Config.ResizeHeight != tower.ImageSize)
            throw new ArgumentException($"The frames are resized to {frameProcessor.Config.ResizeWidth}x{frameProcessor.Config.ResizeHeight} but the vision tower takes {tower.ImageSize}x{tower.ImageSize}.", nameof(frameProcessor));
        this.tower = tower;
        FrameProcessor = frameProcessor;
        Options = options ?? new VideoOptions();
        this.loader = loader ?? new ImageLoader();
        Side = side;
    }

    /// <summary>Resizes, rescales and normalises one frame.</summary>
    public IImageProcessor FrameProcessor { get; }

    /// <summary>Frame limits.</summary>
    public VideoOptions Options { get; }

    /// <summary>Side of one frame's feature map (its tokens are <c>Side²</c>).</summary>
    public int Side { get; }

    /// <summary>Side of one frame's map after pooling: <c>⌈Side / 2⌉</c>.</summary>
    public int PooledSide => (Side + 1) / 2;

    /// <summary>Positions a video of <paramref name="frames"/> frames takes: every frame's pooled map, then one newline.</summary>
    public int TokenCount(int frames) => frames * PooledSide * PooledSide + 1;

    /// <inheritdoc />
    public string Modality => "video";

    /// <inheritdoc />
    public string Placeholder => "<video>";

    /// <inheritdoc />
    public IReadOnlyList<string> MediaTypes { get; } = ["video/*"];

    /// <inheritdoc />
    public int OutputWidth => tower.OutputWidth;

    /// <summary>Null: the token count depends on the number of frames.</summary>
    public int? FixedTokenCount => null;

    /// <inheritdoc />
    public bool Accepts(ModalityInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return input.Frames is not null || LlavaModal.Abstractions.Modality.MediaTypes.Matches(input.MediaType, "video/*");
    }

    /// <summary>Decodes and preprocesses every frame: pixel values [frames, 3, S, S], with the frame count and size in the metadata.</summary>
    /// <exception cref="LlavaModal.Abstractions.LlavaModalException">No frames, too many, frames of different sizes, or one that does not decode (named in the message).</exception>
    public PreparedInput Prepare(ModalityInput input) => Prepare(input, CancellationToken.None);

    /// <inheritdoc cref="Prepare(ModalityInput)"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was cancelled (checked between frames).</exception>
    public PreparedInput Prepare(ModalityInput input, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(input);
        var source = input.Describe();
        var frames = VideoFrames.Read(input, loader, Options, FrameRule.Uniform, cancellation);
        return VideoPixels.Prepare(frames, FrameProcessor, tower.ImageSize, TokenCount(frames.Count), source, cancellation);
    }

    /// <summary>The selected features of every frame, [frames × tokens per frame, <see cref="OutputWidth"/>], in order.</summary>
    public Tensor Encode(PreparedInput input, Device device)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var pixels = input.Values.to(tower.DType, device);
        return tower.Features(pixels).reshape(-1, tower.OutputWidth).MoveToOuterDisposeScope();
    }

    /// <summary>Nothing: the tower belongs to the image plugin.</summary>
    public void Dispose() { }
}
