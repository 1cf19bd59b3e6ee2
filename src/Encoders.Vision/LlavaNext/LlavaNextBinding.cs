using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.LlavaNext;

/// <summary>
/// LLaVA-NeXT's image modality: encode every tile, project, then pack as transformers' <c>pack_image_features</c>
/// does: the base tile's features first, then the canvas tiles' feature maps assembled into one map, cut back to the
/// image's own aspect ratio (unpadding), with the learned <c>image_newline</c> vector after every row.
/// </summary>
public sealed class LlavaNextBinding : ModalityBinding
{
    readonly AnyResSettings settings;

    /// <summary>Binds the plugin, its projector and the checkpoint's newline vector.</summary>
    /// <param name="encoder">The AnyRes image plugin.</param>
    /// <param name="projector">Maps tile features to the decoder's width.</param>
    /// <param name="imageNewline">The checkpoint's <c>image_newline</c> [decoder width]; owned (disposed) by the binding.</param>
    /// <param name="placeholderTokenId">The config's <c>image_token_index</c>.</param>
    /// <exception cref="ArgumentException">The newline vector is not [projector output width].</exception>
    public LlavaNextBinding(LlavaNextImageEncoder encoder, IProjector projector, Tensor imageNewline, int? placeholderTokenId = null)
        : base(encoder, projector, placeholderTokenId)
    {
        ArgumentNullException.ThrowIfNull(imageNewline);
        if (imageNewline.dim() != 1 || imageNewline.shape[0] != projector.OutputWidth)
            throw new ArgumentException($"image_newline has shape [{string.Join(", ", imageNewline.shape)}], expected [{projector.OutputWidth}].", nameof(imageNewline));
        settings = encoder.Processor.Settings;
        ImageNewline = imageNewline;
    }

    /// <summary>The vector that ends every row of the packed grid.</summary>
    public Tensor ImageNewline { get; }

    /// <summary>Packed decoder embeddings [<see cref="PreparedInput.TokenCount"/>, hidden] of a prepared image.</summary>
    /// <exception cref="LlavaModalException">The input lacks its original size, or the features do not fit its layout (names the input).</exception>
    public override Tensor Embed(PreparedInput input, Device device, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Metadata.Width is not int width || input.Metadata.Height is not int height)
            throw new LlavaModalException($"{input.Source}: an AnyRes image needs its original width and height in the prepared input's metadata.");
        var layout = settings.Layout(width, height);
        using var scope = NewDisposeScope();
        var features = Encoder.Encode(input, device, cancellation);
        long perTile = settings.BaseTokens;
        if (features.dim() != 2 || features.shape[0] != layout.Tiles * perTile)
            throw new LlavaModalException($"{input.Source}: the image encoder returned features of shape [{string.Join(", ", features.shape)}], expected [{layout.Tiles * perTile}, {Encoder.OutputWidth}] for {layout.Tiles} tiles.");
        var projected = Projector.Project(features);
        var packed = Pack(projected.view(layout.Tiles, perTile, -1), layout);
        if (packed.shape[0] != input.TokenCount)
            throw new LlavaModalException($"{input.Source}: image features and tokens do not match: the plugin announced {input.TokenCount} tokens but packing produced {packed.shape[0]}.");
        return packed.MoveToOuterDisposeScope();
    }

    /// <summary>Base tokens, then the unpadded grid row by row, each row followed by the newline vector: [tokens, hidden].</summary>
    Tensor Pack(Tensor tiles, AnyResLayout layout)
    {
        long hidden = tiles.shape[2];
        var baseTokens = tiles.select(0, 0);
        var grid = UnpaddedGrid(tiles, layout, settings.PatchesPerSide);
        var newline = ImageNewline.to(grid.dtype, grid.device).view(1, 1, hidden).expand(layout.KeptRows, 1, hidden);
        var rows = cat([grid, newline], 1).reshape(-1, hidden);
        return cat([baseTokens, rows], 0);
    }

    /// <summary>
    /// The canvas tiles' features of <paramref name="tiles"/> [base + canvas tiles, side², hidden] assembled into one map
    /// and cut back to the image's aspect ratio: [kept rows, kept columns, hidden] (shared with LLaVA-OneVision's packing).
    /// </summary>
    internal static Tensor UnpaddedGrid(Tensor tiles, AnyResLayout layout, long side)
    {
        long hidden = tiles.shape[2];
        // [rows of tiles, cols of tiles, patch row, patch col, hidden] → [tile row, patch row, tile col, patch col, hidden]:
        // feature (ty·side + py, tx·side + px) is patch (py, px) of tile (ty, tx).
        return tiles.narrow(0, 1, layout.Tiles - 1)
            .view(layout.TileRows, layout.TileCols, side, side, hidden)
            .permute(0, 2, 1, 3, 4)
            .reshape(layout.FeatureRows, layout.FeatureCols, hidden)
            .narrow(0, layout.KeptTop, layout.KeptRows)
            .narrow(1, layout.KeptLeft, layout.KeptCols);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) ImageNewline.Dispose();
        base.Dispose(disposing);
    }
}
