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
public sealed class OnevisionVideoEncoder : VideoFrameEncoder
{
    /// <summary>Creates the plugin over a tower owned elsewhere (the image plugin's).</summary>
    /// <param name="tower">The shared vision tower; not disposed by this plugin.</param>
    /// <param name="frameProcessor">Resizes, rescales and normalises one frame to the tower's input.</param>
    /// <param name="options">Frame limits.</param>
    /// <param name="loader">Decodes the frames.</param>
    /// <exception cref="ArgumentException">The tower's features do not form a square map, or the processor's frames are not the tower's size.</exception>
    public OnevisionVideoEncoder(VisionTower tower, IImageProcessor frameProcessor, VideoOptions? options = null, ImageLoader? loader = null)
        : base(tower, frameProcessor, ResizedTo(frameProcessor), options, loader)
    {
    }

    /// <summary>Side of one frame's map after pooling: <c>⌈Side / 2⌉</c>.</summary>
    public int PooledSide => (Side + 1) / 2;

    /// <summary>Positions a video of <paramref name="frames"/> frames takes: every frame's pooled map, then one newline.</summary>
    public override int TokenCount(int frames) => frames * PooledSide * PooledSide + 1;

    /// <summary>The selected features of every frame, [frames × tokens per frame, <see cref="VideoFrameEncoder.OutputWidth"/>], in order.</summary>
    public override Tensor Encode(PreparedInput input, Device device)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var pixels = input.Values.to(Tower.DType, device);
        return Tower.Features(pixels).reshape(-1, Tower.OutputWidth).MoveToOuterDisposeScope();
    }

    // Frames are resized to the processor's size whatever their aspect (no crop).
    static (int Width, int Height) ResizedTo(IImageProcessor frameProcessor)
    {
        ArgumentNullException.ThrowIfNull(frameProcessor);
        return (frameProcessor.Config.ResizeWidth ?? 0, frameProcessor.Config.ResizeHeight ?? 0);
    }
}
