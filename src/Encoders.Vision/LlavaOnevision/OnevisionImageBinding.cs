using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Encoders.Vision.LlavaNext;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.LlavaOnevision;

/// <summary>
/// LLaVA-OneVision's image modality: encode every tile, project, then pack as transformers' <c>pack_image_features</c>
/// with <c>anyres_max_N</c> does: the base tile's features first, then the canvas tiles' map assembled and unpadded as
/// LLaVA-NeXT does, shrunk bilinearly (<c>align_corners=False</c>, no antialiasing) when it holds clearly more than N
/// tiles' worth of features, with the learned <c>image_newline</c> vector after every row.
/// </summary>
public sealed class OnevisionImageBinding : ModalityBinding
{
    readonly OnevisionImageEncoder encoder;

    /// <summary>Binds the plugin, its projector and the checkpoint's newline vector.</summary>
    /// <param name="encoder">The image plugin.</param>
    /// <param name="projector">Maps tile features to the decoder's width.</param>
    /// <param name="imageNewline">The checkpoint's <c>image_newline</c> [decoder width]; owned (disposed) by the binding.</param>
    /// <param name="placeholderTokenId">The config's <c>image_token_index</c>.</param>
    /// <exception cref="ArgumentException">The newline vector is not [projector output width].</exception>
    public OnevisionImageBinding(OnevisionImageEncoder encoder, IProjector projector, Tensor imageNewline, int? placeholderTokenId = null)
        : base(encoder, projector, placeholderTokenId)
    {
        ArgumentNullException.ThrowIfNull(imageNewline);
        if (imageNewline.dim() != 1 || imageNewline.shape[0] != projector.OutputWidth)
            throw new ArgumentException($"image_newline has shape [{string.Join(", ", imageNewline.shape)}], expected [{projector.OutputWidth}].", nameof(imageNewline));
        this.encoder = encoder;
        ImageNewline = imageNewline;
    }

    /// <summary>The vector that ends every row of the packed map (and every video).</summary>
    public Tensor ImageNewline { get; }

    /// <summary>Packed decoder embeddings [<see cref="PreparedInput.TokenCount"/>, hidden] of a prepared image.</summary>
    /// <exception cref="LlavaModalException">The input lacks its original size, or the features do not fit its layout (names the input).</exception>
    public override Tensor Embed(PreparedInput input, Device device, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Metadata.Width is not int width || input.Metadata.Height is not int height)
            throw new LlavaModalException($"{input.Source}: an AnyRes image needs its original width and height in the prepared input's metadata.");
        var layout = encoder.Layout(width, height);
        using var scope = NewDisposeScope();
        var features = Encoder.Encode(input, device, cancellation);
        long perTile = layout.Grid.BaseTokens, tiles = layout.Grid.Tiles;
        if (features.dim() != 2 || features.shape[0] != tiles * perTile)
            throw new LlavaModalException($"{input.Source}: the image encoder returned features of shape [{string.Join(", ", features.shape)}], expected [{tiles * perTile}, {Encoder.OutputWidth}] for {tiles} tiles.");
        var packed = Pack(Projector.Project(features).view(tiles, perTile, -1), layout);
        if (packed.shape[0] != input.TokenCount)
            throw new LlavaModalException($"{input.Source}: image features and tokens do not match: the plugin announced {input.TokenCount} tokens but packing produced {packed.shape[0]}.");
        return packed.MoveToOuterDisposeScope();
    }

    /// <summary>Base tokens, then the unpadded (and maybe shrunk) map row by row, each row followed by the newline vector: [tokens, hidden].</summary>
    Tensor Pack(Tensor tiles, AnyResMaxLayout layout)
    {
        long hidden = tiles.shape[2];
        var grid = LlavaNextBinding.UnpaddedGrid(tiles, layout.Grid, encoder.Processor.Settings.PatchesPerSide);
        if (layout.Downscaled)
        {
            // [rows, cols, hidden] → [1, hidden, rows, cols] for interpolate, and back.
            grid = nn.functional.interpolate(grid.permute(2, 0, 1).unsqueeze(0), size: [layout.Rows, layout.Cols], mode: InterpolationMode.Bilinear, align_corners: false)
                .squeeze(0).permute(1, 2, 0);
        }
        var newline = ImageNewline.to(grid.dtype, grid.device).view(1, 1, hidden).expand(layout.Rows, 1, hidden);
        var rows = cat([grid, newline], 1).reshape(-1, hidden);
        return cat([tiles.select(0, 0), rows], 0);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) ImageNewline.Dispose();
        base.Dispose(disposing);
    }
}
