using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Encoders.Vision.LlavaNext;
using LlavaModal.Encoders.Vision.Preprocessing;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.LlavaOnevision;

/// <summary>
/// LLaVA-OneVision's image plugin: decodes an image and tiles it with AnyRes as LLaVA-NeXT does (every tile resized to the
/// tower's size, as <c>LlavaOnevisionImageProcessor</c> does), knowing from the image's size alone how many positions it
/// takes under <c>anyres_max_N</c>, and runs every tile through the vision tower. <see cref="Encode"/> returns the tiles'
/// features one after another (base tile first); <see cref="OnevisionImageBinding"/> projects and packs them.
/// </summary>
public sealed class OnevisionImageEncoder : IModalityEncoder
{
    readonly VisionTower tower;
    readonly ImageLoader loader;

    /// <summary>Creates the plugin from a loaded tower (owned), the AnyRes processor and the <c>anyres_max</c> N.</summary>
    /// <exception cref="ArgumentException">The tower's input size or tokens per tile do not match the processor's tiles.</exception>
    public OnevisionImageEncoder(VisionTower tower, LlavaNextImageProcessor processor, int maxTiles, ImageLoader? loader = null)
    {
        ArgumentNullException.ThrowIfNull(tower);
        ArgumentNullException.ThrowIfNull(processor);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxTiles);
        if (tower.ImageSize != processor.Settings.TileSize)
            throw new ArgumentException($"The vision tower takes {tower.ImageSize} px images but the tiles are {processor.Settings.TileSize} px.", nameof(processor));
        if (tower.TokenCount != processor.Settings.BaseTokens)
            throw new ArgumentException($"The vision tower yields {tower.TokenCount} features per tile, not the {processor.Settings.PatchesPerSide}x{processor.Settings.PatchesPerSide} grid AnyRes packs.", nameof(tower));
        this.tower = tower;
        Processor = processor;
        MaxTiles = maxTiles;
        this.loader = loader ?? new ImageLoader();
    }

    /// <summary>The vision tower (shared with the video plugin, owned here).</summary>
    public VisionTower Tower => tower;

    /// <summary>The AnyRes image processor.</summary>
    public LlavaNextImageProcessor Processor { get; }

    /// <summary>N of <c>anyres_max_N</c>.</summary>
    public int MaxTiles { get; }

    /// <inheritdoc />
    public string Modality => "image";

    /// <inheritdoc />
    public string Placeholder => "<image>";

    /// <inheritdoc />
    public IReadOnlyList<string> MediaTypes { get; } = ["image/*"];

    /// <inheritdoc />
    public int OutputWidth => tower.OutputWidth;

    /// <summary>Null: the token count depends on the image's size (see <see cref="AnyResMaxLayout.TokenCount"/>).</summary>
    public int? FixedTokenCount => null;

    /// <summary>The layout of a <paramref name="width"/> x <paramref name="height"/> image.</summary>
    public AnyResMaxLayout Layout(int width, int height) => AnyResMaxLayout.Compute(width, height, Processor.Settings, MaxTiles);

    /// <inheritdoc />
    public bool Accepts(ModalityInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.MediaType is { } type) return LlavaModal.Abstractions.Modality.MediaTypes.Matches(type, "image/*");
        return SixLabors.ImageSharp.Image.DetectFormat(input.Data.Span) is not null;
    }

    /// <summary>Decodes and tiles the image; its token count and original size travel with the pixel values [tiles, 3, S, S].</summary>
    /// <exception cref="InvalidImageException">The image is unreadable, corrupt or too large (named in the message).</exception>
    public PreparedInput Prepare(ModalityInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var source = input.Describe();
        var image = loader.Load(input.Data.ToArray(), source);
        var processed = Processor.Preprocess(image);
        return new PreparedInput(processed.ToTensor(), Layout(image.Width, image.Height).TokenCount, source)
        {
            Metadata = new InputMetadata(Width: image.Width, Height: image.Height),
        };
    }

    /// <summary>The selected features of every tile, [tiles × tokens per tile, <see cref="OutputWidth"/>], base tile first.</summary>
    public Tensor Encode(PreparedInput input, Device device)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var pixels = input.Values.to(tower.DType, device);
        return tower.Features(pixels).reshape(-1, tower.OutputWidth).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public void Dispose() => tower.Dispose();
}
