using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Encoders.Vision.Preprocessing;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Llava;

/// <summary>
/// LLaVA's image plugin: decodes an image, preprocesses it as the checkpoint's image processor does (CLIP or SigLIP;
/// LLaVA-1.5 pads to a square first), runs the vision tower (whichever the config names) and returns the selected features. Also accepts
/// a safetensors file holding a ready <c>pixel_values</c> tensor [1, 3, H, W], to feed exactly preprocessed pixels.
/// </summary>
public sealed class LlavaImageEncoder : IModalityEncoder
{
    /// <summary>Media type of a safetensors file with a <c>pixel_values</c> tensor.</summary>
    public const string PixelValuesMediaType = "application/x-safetensors";

    readonly VisionTower tower;
    readonly IImageProcessor processor;
    readonly ImageLoader loader;

    /// <summary>Creates the plugin from a loaded tower, a processor and a loader.</summary>
    public LlavaImageEncoder(VisionTower tower, IImageProcessor processor, ImageLoader? loader = null)
    {
        this.tower = tower;
        this.processor = processor;
        this.loader = loader ?? new ImageLoader();
    }

    /// <summary>The vision tower.</summary>
    public VisionTower Tower => tower;

    /// <summary>The image processor.</summary>
    public IImageProcessor Processor => processor;

    /// <inheritdoc />
    public string Modality => "image";

    /// <inheritdoc />
    public string Placeholder => "<image>";

    /// <inheritdoc />
    public IReadOnlyList<string> MediaTypes { get; } = ["image/*", PixelValuesMediaType];

    /// <inheritdoc />
    public int OutputWidth => tower.OutputWidth;

    /// <inheritdoc />
    public int? FixedTokenCount => tower.TokenCount;

    /// <inheritdoc />
    public bool Accepts(ModalityInput input)
    {
        if (input.MediaType is { } type) return MediaTypes.Any(p => LlavaModal.Abstractions.Modality.MediaTypes.Matches(type, p));
        return IsSafeTensors(input) || SixLabors.ImageSharp.Image.DetectFormat(input.Data.Span) is not null;
    }

    static bool IsSafeTensors(ModalityInput input) =>
        LlavaModal.Abstractions.Modality.MediaTypes.Matches(input.MediaType, PixelValuesMediaType)
        || (input.Source?.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) ?? false);

    /// <inheritdoc />
    public PreparedInput Prepare(ModalityInput input)
    {
        var source = input.Describe();
        if (IsSafeTensors(input)) return new PreparedInput(ReadPixelValues(input, source), tower.TokenCount, source);
        var image = loader.Load(input.Data.ToArray(), source);
        var pixels = processor.Preprocess(image, source).ToTensor();
        return new PreparedInput(pixels, tower.TokenCount, source) { Metadata = new InputMetadata(Width: image.Width, Height: image.Height) };
    }

    Tensor ReadPixelValues(ModalityInput input, string source)
    {
        var temp = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(temp, input.Data.ToArray());
            using var file = SafeTensorsFile.Open(temp);
            if (!file.Tensors.TryGetValue("pixel_values", out var info))
                throw new LlavaModalException($"{source}: safetensors input has no 'pixel_values' tensor.");
            long size = tower.ImageSize;
            if (!info.Shape.SequenceEqual(new long[] { 1, tower.NumChannels, size, size }))
                throw new LlavaModalException($"{source}: pixel_values has shape [{string.Join(", ", info.Shape)}], expected [1, {tower.NumChannels}, {size}, {size}].");
            if (info.ScalarType is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64))
                throw new LlavaModalException($"{source}: pixel_values is stored as {info.DType}; expected floating-point pixels.");
            var pixels = file.Read("pixel_values", ScalarType.Float32);
            if (!pixels.AllFinite())
            {
                pixels.Dispose();
                throw new LlavaModalException($"{source}: pixel_values holds NaN or infinite values.");
            }
            return pixels;
        }
        catch (CheckpointException e) { throw new LlavaModalException($"{source}: {e.Message}", e); }
        finally { File.Delete(temp); }
    }

    /// <inheritdoc />
    public Tensor Encode(PreparedInput input, Device device)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var pixels = input.Values.to(tower.DType, device);
        return tower.Features(pixels).squeeze(0).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public void Dispose() => tower.Dispose();
}
