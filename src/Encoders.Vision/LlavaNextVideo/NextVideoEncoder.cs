using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Encoders.Vision.Video;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.LlavaNextVideo;

/// <summary>
/// LLaVA-NeXT-Video's video plugin (transformers 4.45 <c>_get_video_features</c>): every frame resized by its shortest
/// edge, centre-cropped, rescaled and normalised (<c>LlavaNextVideoImageProcessor</c>, CLIP's steps), run through the
/// vision tower it shares with the image plugin (its feature layer and selection: <c>default</c> drops the class token),
/// then pooled by the <c>vision_resampler</c> before the shared projector. The frames' tokens follow one another with no
/// newline: a video takes <c>frames × ⌊side/stride⌋²</c> positions (144 a frame with the 7B config), known from the frame
/// count before anything is encoded. Frames of a video file are sampled as for LLaVA-OneVision.
/// </summary>
public sealed class NextVideoEncoder : IModalityEncoder
{
    readonly VisionTower tower;
    readonly NextVideoPooler pooler;
    readonly ImageLoader loader;

    /// <summary>Creates the plugin over a tower owned elsewhere (the image plugin's); owns the pooler.</summary>
    /// <exception cref="ArgumentException">The tower's features do not form a square map, or the processor's frames are not the tower's size.</exception>
    internal NextVideoEncoder(VisionTower tower, IImageProcessor frameProcessor, NextVideoPooler pooler, VideoOptions? options = null, ImageLoader? loader = null)
    {
        ArgumentNullException.ThrowIfNull(tower);
        ArgumentNullException.ThrowIfNull(frameProcessor);
        ArgumentNullException.ThrowIfNull(pooler);
        int side = (int)Math.Round(Math.Sqrt(tower.TokenCount));
        if (side * side != tower.TokenCount)
            throw new ArgumentException($"The vision tower yields {tower.TokenCount} features per frame, not a square map the video pooling can shrink.", nameof(tower));
        var c = frameProcessor.Config;
        var (width, height) = c.DoCenterCrop ? (c.CropWidth, c.CropHeight) : (c.ResizeWidth ?? 0, c.ResizeHeight ?? 0);
        if (width != tower.ImageSize || height != tower.ImageSize)
            throw new ArgumentException($"The frames are made {width}x{height} but the vision tower takes {tower.ImageSize}x{tower.ImageSize}.", nameof(frameProcessor));
        this.tower = tower;
        this.pooler = pooler;
        FrameProcessor = frameProcessor;
        Options = options ?? new VideoOptions();
        this.loader = loader ?? new ImageLoader();
        Side = side;
    }

    /// <summary>Resizes, crops, rescales and normalises one frame.</summary>
    public IImageProcessor FrameProcessor { get; }

    /// <summary>Frame limits and sampling.</summary>
    public VideoOptions Options { get; }

    /// <summary>Side of one frame's feature map before pooling.</summary>
    public int Side { get; }

    /// <summary>Side of one frame's map after pooling: <c>⌊Side / spatial_pool_stride⌋</c>.</summary>
    public int PooledSide => pooler.PooledSide(Side);

    /// <summary><c>spatial_pool_mode</c>: <c>average</c>, <c>max</c> or <c>conv</c>.</summary>
    public string PoolMode => pooler.Mode;

    /// <summary>Positions a video of <paramref name="frames"/> frames takes: every frame's pooled map, no newline.</summary>
    public int TokenCount(int frames) => frames * PooledSide * PooledSide;

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

    /// <summary>Decodes and preprocesses the frames: pixel values [frames, 3, S, S], with the frame count and size in the metadata.</summary>
    /// <exception cref="LlavaModal.Abstractions.LlavaModalException">No frames, too many, frames of different sizes, or one that does not decode (named in the message).</exception>
    public PreparedInput Prepare(ModalityInput input) => Prepare(input, CancellationToken.None);

    /// <inheritdoc cref="Prepare(ModalityInput)"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was cancelled (checked between frames).</exception>
    public PreparedInput Prepare(ModalityInput input, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(input);
        var frames = VideoFrames.Read(input, loader, Options, FrameRule.Uniform, cancellation);
        return VideoPixels.Prepare(frames, FrameProcessor, tower.ImageSize, TokenCount(frames.Count), input.Describe(), cancellation);
    }

    /// <summary>Every frame's selected features pooled: [frames × pooled², <see cref="OutputWidth"/>], frame after frame, row-major.</summary>
    public Tensor Encode(PreparedInput input, Device device)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var features = tower.Features(input.Values.to(tower.DType, device));
        return pooler.forward(features).reshape(-1, tower.OutputWidth).MoveToOuterDisposeScope();
    }

    /// <summary>Releases the pooler; the tower belongs to the image plugin.</summary>
    public void Dispose() => pooler.Dispose();
}
