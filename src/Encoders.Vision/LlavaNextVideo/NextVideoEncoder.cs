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
public sealed class NextVideoEncoder : VideoFrameEncoder
{
    readonly NextVideoPooler pooler;

    /// <summary>Creates the plugin over a tower owned elsewhere (the image plugin's); owns the pooler.</summary>
    /// <exception cref="ArgumentException">The tower's features do not form a square map, or the processor's frames are not the tower's size.</exception>
    internal NextVideoEncoder(VisionTower tower, IImageProcessor frameProcessor, NextVideoPooler pooler, VideoOptions? options = null, ImageLoader? loader = null)
        : base(tower, frameProcessor, FrameSize(frameProcessor), options, loader)
    {
        ArgumentNullException.ThrowIfNull(pooler);
        this.pooler = pooler;
    }

    /// <summary>Side of one frame's map after pooling: <c>⌊Side / spatial_pool_stride⌋</c>.</summary>
    public int PooledSide => pooler.PooledSide(Side);

    /// <summary><c>spatial_pool_mode</c>: <c>average</c>, <c>max</c> or <c>conv</c>.</summary>
    public string PoolMode => pooler.Mode;

    /// <summary>Positions a video of <paramref name="frames"/> frames takes: every frame's pooled map, no newline.</summary>
    public override int TokenCount(int frames) => frames * PooledSide * PooledSide;

    /// <summary>Every frame's selected features pooled: [frames × pooled², <see cref="VideoFrameEncoder.OutputWidth"/>], frame after frame, row-major.</summary>
    public override Tensor Encode(PreparedInput input, Device device)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var features = Tower.Features(input.Values.to(Tower.DType, device));
        return pooler.forward(features).reshape(-1, Tower.OutputWidth).MoveToOuterDisposeScope();
    }

    /// <summary>Releases the pooler; the tower belongs to the image plugin.</summary>
    public override void Dispose()
    {
        pooler.Dispose();
        base.Dispose();
    }

    // Frames are cropped when the processor crops, else resized to its size.
    static (int Width, int Height) FrameSize(IImageProcessor frameProcessor)
    {
        ArgumentNullException.ThrowIfNull(frameProcessor);
        var c = frameProcessor.Config;
        return c.DoCenterCrop ? (c.CropWidth, c.CropHeight) : (c.ResizeWidth ?? 0, c.ResizeHeight ?? 0);
    }
}
