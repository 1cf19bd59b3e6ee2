using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;

namespace LlavaModal.Encoders.Vision.Preprocessing;

/// <summary>Picks a checkpoint's image processor by the <c>image_processor_type</c> its <c>preprocessor_config.json</c> names.</summary>
public static class ImageProcessors
{
    /// <summary>The key naming the processor class.</summary>
    public const string TypeKey = "image_processor_type";

    /// <summary>
    /// <c>CLIPImageProcessor</c> (also when the file or the key is absent, LLaVA-1.5's) or <c>SiglipImageProcessor</c>
    /// (LLaVA-Interleave); their <c>Fast</c> variants get the same, Pillow-exact, arithmetic.
    /// </summary>
    /// <param name="directory">The model folder.</param>
    /// <param name="padToSquare">LLaVA-1.5's pad-to-square before a CLIP processor; SigLIP checkpoints are never padded.</param>
    /// <param name="maxPixels">Largest image a CLIP processor's padding or resizing may make (see <see cref="ClipImageProcessor.MaxPixels"/>).</param>
    /// <exception cref="ConfigException">Another processor type, or a malformed value (naming the file and key).</exception>
    public static IImageProcessor FromDirectory(string directory, bool padToSquare = true, long maxPixels = ImageLoaderOptions.DefaultMaxPixels)
    {
        var path = Path.Combine(directory, ImageProcessorConfig.FileName);
        var type = File.Exists(path) ? JsonConfig.Load(path).OptionalString(TypeKey) : null;
        return type switch
        {
            null or "CLIPImageProcessor" or "CLIPImageProcessorFast" => new ClipImageProcessor(ImageProcessorConfig.LoadFromDirectory(directory), padToSquare) { MaxPixels = maxPixels },
            "SiglipImageProcessor" or "SiglipImageProcessorFast" => SiglipImageProcessor.FromDirectory(directory),
            _ => throw JsonConfig.Load(path).Error(TypeKey, $"'{type}' is not supported here (supported: CLIPImageProcessor, SiglipImageProcessor)."),
        };
    }
}
