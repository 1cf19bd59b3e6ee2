using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Encoders.Vision.Llava;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.LlavaOnevision;

/// <summary>
/// LLaVA-OneVision's video modality: encode every frame, project, then transformers' <c>apply_pooling</c>: each frame's
/// side x side map shrunk bilinearly (<c>align_corners=False</c>) to ⌈side/2⌉ x ⌈side/2⌉, the frames' tokens one after
/// another (row-major), and one <c>image_newline</c> vector after the whole video. The projector and the newline vector
/// are the image modality's, shared, not owned.
/// </summary>
public sealed class OnevisionVideoBinding : ModalityBinding
{
    readonly OnevisionVideoEncoder encoder;
    readonly Tensor newline;

    /// <summary>Binds the video plugin to the image modality's projector and newline vector.</summary>
    /// <param name="encoder">The video plugin.</param>
    /// <param name="projector">The image modality's projector (not disposed here).</param>
    /// <param name="imageNewline">The image modality's <c>image_newline</c> (not disposed here).</param>
    /// <param name="placeholderTokenId">The config's <c>video_token_index</c>.</param>
    public OnevisionVideoBinding(OnevisionVideoEncoder encoder, IProjector projector, Tensor imageNewline, int? placeholderTokenId = null)
        : base(encoder, new SharedProjector(projector), placeholderTokenId)
    {
        ArgumentNullException.ThrowIfNull(imageNewline);
        this.encoder = encoder;
        newline = imageNewline;
    }

    /// <summary>Decoder embeddings [<see cref="PreparedInput.TokenCount"/>, hidden] of a prepared video.</summary>
    /// <exception cref="LlavaModalException">The input lacks its frame count, or the features do not fit it (names the input).</exception>
    public override Tensor Embed(PreparedInput input, Device device, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Metadata.Frames is not int frames)
            throw new LlavaModalException($"{input.Source}: a video needs its frame count in the prepared input's metadata.");
        using var scope = NewDisposeScope();
        var features = Encoder.Encode(input, device, cancellation);
        long side = encoder.Side;
        if (features.dim() != 2 || features.shape[0] != frames * side * side)
            throw new LlavaModalException($"{input.Source}: the video encoder returned features of shape [{string.Join(", ", features.shape)}], expected [{frames * side * side}, {Encoder.OutputWidth}] for {frames} frames.");
        var projected = Projector.Project(features);
        long hidden = projected.shape[1], pooled = encoder.PooledSide;
        // [frames, side, side, hidden] → [frames, hidden, side, side] for interpolate, and back, frame-major then row-major.
        var maps = projected.view(frames, side, side, hidden).permute(0, 3, 1, 2);
        var pooledMaps = nn.functional.interpolate(maps, size: [pooled, pooled], mode: InterpolationMode.Bilinear, align_corners: false);
        var tokens = pooledMaps.permute(0, 2, 3, 1).reshape(-1, hidden);
        var video = cat([tokens, newline.to(tokens.dtype, tokens.device).view(1, hidden)], 0);
        if (video.shape[0] != input.TokenCount)
            throw new LlavaModalException($"{input.Source}: video features and tokens do not match: the plugin announced {input.TokenCount} tokens but pooling produced {video.shape[0]}.");
        return video.MoveToOuterDisposeScope();
    }
}
