namespace LlavaModal.Encoders.Vision.Preprocessing;

/// <summary>
/// Turns a decoded image into a vision tower's <c>pixel_values</c> as the checkpoint's Hugging Face image processor does
/// (<see cref="ClipImageProcessor"/>, <see cref="SiglipImageProcessor"/>); <see cref="ImageProcessors.FromDirectory"/>
/// picks the one <c>preprocessor_config.json</c> names.
/// </summary>
public interface IImageProcessor
{
    /// <summary>The processor settings.</summary>
    ImageProcessorConfig Config { get; }

    /// <summary>Resizes (and, for CLIP, pads and crops), rescales and normalises <paramref name="image"/>.</summary>
    /// <param name="image">The decoded image.</param>
    /// <param name="source">Names the image in errors.</param>
    /// <exception cref="InvalidImageException">A step would make an image over the processor's pixel limit.</exception>
    PreprocessedImage Preprocess(RgbImage image, string source = "image");
}
