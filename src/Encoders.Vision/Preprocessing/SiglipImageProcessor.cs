using System.Text.Json;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;

namespace LlavaModal.Encoders.Vision.Preprocessing;

/// <summary>
/// Turns an <see cref="RgbImage"/> into SigLIP <c>pixel_values</c> exactly as the Hugging Face <c>SiglipImageProcessor</c>
/// (with Pillow) does: resize to the configured height and width whatever the aspect ratio (Pillow-exact resampling, an
/// image already at that size left as it is), rescale and normalise; no padding and no crop.
/// </summary>
public sealed class SiglipImageProcessor : IImageProcessor
{
    readonly PixelNormalizer normalizer;

    /// <summary>Creates a processor.</summary>
    /// <param name="config">The processor settings; resizing needs <see cref="ImageProcessorConfig.ResizeHeight"/> and <see cref="ImageProcessorConfig.ResizeWidth"/>.</param>
    /// <exception cref="ArgumentException"><c>image_mean</c> / <c>image_std</c> do not have 3 entries, or the resize size is missing or not positive.</exception>
    public SiglipImageProcessor(ImageProcessorConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.ImageMean.Count != 3 || config.ImageStd.Count != 3)
            throw new ArgumentException("image_mean and image_std need exactly 3 entries (R, G, B).", nameof(config));
        if (config.DoResize && (config.ResizeHeight is null or <= 0 || config.ResizeWidth is null or <= 0))
            throw new ArgumentException("SigLIP resizing needs a positive height and width.", nameof(config));
        Config = config with { DoCenterCrop = false, ShortestEdge = null };
        normalizer = new PixelNormalizer(config);
    }

    /// <summary>
    /// The <c>SiglipImageProcessor</c> defaults, used for any key <c>preprocessor_config.json</c> leaves out: 224 x 224,
    /// bicubic, rescale 1/255, mean = std = 0.5 per channel.
    /// </summary>
    public static ImageProcessorConfig Defaults { get; } = new()
    {
        ShortestEdge = null,
        ResizeHeight = 224,
        ResizeWidth = 224,
        DoCenterCrop = false,
        ImageMean = [0.5, 0.5, 0.5],
        ImageStd = [0.5, 0.5, 0.5],
    };

    /// <summary>Creates a processor from <c>preprocessor_config.json</c> in <paramref name="directory"/> (the defaults when absent).</summary>
    /// <exception cref="ConfigException">The file holds a malformed or unsupported value; <c>size</c> must be <c>{"height": H, "width": W}</c>.</exception>
    public static SiglipImageProcessor FromDirectory(string directory)
    {
        var path = Path.Combine(directory, ImageProcessorConfig.FileName);
        if (!File.Exists(path)) return new SiglipImageProcessor(Defaults);
        var json = JsonConfig.Load(path);
        // transformers reads size["height"] and size["width"]; a bare number or a shortest edge fails there too.
        if (json.TryGet("size", out var size) && (size.ValueKind != JsonValueKind.Object || !json.Section("size").Has("height") || !json.Section("size").Has("width")))
            throw json.Error("size", $"SigLIP resizes to an exact {{\"height\": H, \"width\": W}}, got {size.GetRawText()}.");
        return new SiglipImageProcessor(ImageProcessorConfig.Load(path, Defaults));
    }

    /// <inheritdoc />
    public ImageProcessorConfig Config { get; }

    /// <inheritdoc />
    public PreprocessedImage Preprocess(RgbImage image, string source = "image")
    {
        // The output size is the config's, checked against the tower at load: no step can grow with the input.
        ArgumentNullException.ThrowIfNull(image);
        if (Config.DoResize) image = PillowBicubicResampler.Resize(image, Config.ResizeWidth!.Value, Config.ResizeHeight!.Value, Config.Resample);
        return new PreprocessedImage(image, normalizer.ToPixelValues(image));
    }
}
