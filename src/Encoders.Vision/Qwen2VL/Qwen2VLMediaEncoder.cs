using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Encoders.Vision.Video;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Qwen2VL;

/// <summary>
/// Qwen2-VL's image or video plugin (one class, two modalities: <c>&lt;|image_pad|&gt;</c> and <c>&lt;|video_pad|&gt;</c>,
/// one tower shared, owned by the image plugin): the input's frames resized with <c>smart_resize</c> and cut into patches,
/// its token count (grid / merge²) and its grid of merged patches (frame groups x rows x columns, which M-RoPE numbers)
/// known before anything is encoded; <see cref="Encode"/> runs the tower through its merger, so the features are already
/// the decoder's width (the projector is the identity).
/// </summary>
public sealed class Qwen2VLMediaEncoder : IModalityEncoder
{
    readonly Qwen2VisionTransformer tower;
    readonly ImageLoader loader;
    readonly bool ownsTower;

    /// <summary>Creates the image plugin (<paramref name="video"/> null) or the video plugin over a tower.</summary>
    /// <param name="tower">The vision tower.</param>
    /// <param name="processor">The image processor (images and video frames alike).</param>
    /// <param name="video">Frame limits for the video plugin; null makes the image plugin.</param>
    /// <param name="loader">Decodes images and frames.</param>
    /// <param name="ownsTower">Whether <see cref="Dispose"/> releases the tower (the image plugin's does).</param>
    /// <exception cref="ArgumentException">The processor's patch, merge or temporal sizes are not the tower's.</exception>
    public Qwen2VLMediaEncoder(Qwen2VisionTransformer tower, Qwen2VLImageProcessor processor, VideoOptions? video = null, ImageLoader? loader = null, bool ownsTower = true)
    {
        ArgumentNullException.ThrowIfNull(tower);
        ArgumentNullException.ThrowIfNull(processor);
        var c = tower.Config;
        if ((processor.PatchSize, processor.MergeSize, processor.TemporalPatchSize) != (c.PatchSize, c.SpatialMergeSize, c.TemporalPatchSize))
            throw new ArgumentException($"The processor makes patches of {processor.TemporalPatchSize}x{processor.PatchSize}x{processor.PatchSize} merged {processor.MergeSize}x{processor.MergeSize}, the tower takes {c.TemporalPatchSize}x{c.PatchSize}x{c.PatchSize} merged {c.SpatialMergeSize}x{c.SpatialMergeSize}.", nameof(processor));
        this.tower = tower;
        Processor = processor;
        Video = video;
        this.loader = loader ?? new ImageLoader();
        this.ownsTower = ownsTower;
    }

    /// <summary>The vision tower.</summary>
    public Qwen2VisionTransformer Tower => tower;

    /// <summary>The image processor.</summary>
    public Qwen2VLImageProcessor Processor { get; }

    /// <summary>Frame limits when this is the video plugin; null for the image plugin.</summary>
    public VideoOptions? Video { get; }

    /// <inheritdoc />
    public string Modality => Video is null ? "image" : "video";

    /// <inheritdoc />
    public string Placeholder => Video is null ? "<|image_pad|>" : "<|video_pad|>";

    static readonly string[] ImageTypes = ["image/*"], VideoTypes = ["video/*"];

    /// <inheritdoc />
    public IReadOnlyList<string> MediaTypes => Video is null ? ImageTypes : VideoTypes;

    /// <summary>The decoder's width: the merger's output.</summary>
    public int OutputWidth => tower.Config.HiddenSize;

    /// <summary>Null: the token count depends on the input's size (and frames).</summary>
    public int? FixedTokenCount => null;

    /// <inheritdoc />
    public bool Accepts(ModalityInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (Video is not null) return input.Frames is not null || LlavaModal.Abstractions.Modality.MediaTypes.Matches(input.MediaType, "video/*");
        if (input.MediaType is { } type) return LlavaModal.Abstractions.Modality.MediaTypes.Matches(type, "image/*");
        return SixLabors.ImageSharp.Image.DetectFormat(input.Data.Span) is not null;
    }

    /// <summary>Decodes, resizes and patches the input: values [patches, C·T·P²], with its token count and merged grid.</summary>
    /// <exception cref="LlavaModal.Abstractions.LlavaModalException">Unreadable, too small (a side under patch x merge), too many or unequal frames (named in the message).</exception>
    public PreparedInput Prepare(ModalityInput input) => Prepare(input, CancellationToken.None);

    /// <inheritdoc cref="Prepare(ModalityInput)"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was cancelled (checked between frames).</exception>
    public PreparedInput Prepare(ModalityInput input, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(input);
        var source = input.Describe();
        IReadOnlyList<RgbImage> frames = Video is null ? [loader.Load(input.Data.ToArray(), source)]
            : VideoPixelBudget.Apply(VideoFrames.Read(input, loader, Video, FrameRule.FramesPerSecond, cancellation), Video, source);
        var patches = Processor.Preprocess(frames, source);
        int m = Processor.MergeSize;
        return new PreparedInput(tensor(patches.Values, [patches.Count, tower.Config.PatchValues], ScalarType.Float32), patches.Count / (m * m), source)
        {
            Metadata = new InputMetadata(Width: frames[0].Width, Height: frames[0].Height, Frames: Video is null ? null : frames.Count),
            Grid = new MediaGrid(patches.GridT, patches.GridH / m, patches.GridW / m),
        };
    }

    /// <summary>Merged features [tokens, <see cref="OutputWidth"/>] of a prepared input.</summary>
    public Tensor Encode(PreparedInput input, Device device)
    {
        ArgumentNullException.ThrowIfNull(input);
        var grid = input.Grid ?? throw new ArgumentException($"{input.Source}: a Qwen2-VL input needs its grid.", nameof(input));
        int m = Processor.MergeSize;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var patches = input.Values.to(tower.DType, device);
        return tower.forward(patches, grid.Frames, grid.Height * m, grid.Width * m).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (ownsTower) tower.Dispose();
    }
}
