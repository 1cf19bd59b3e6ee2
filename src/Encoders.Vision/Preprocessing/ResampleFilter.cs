namespace LlavaModal.Encoders.Vision.Preprocessing;

/// <summary>
/// Resampling filters, numbered as Pillow's <c>Image.Resampling</c> constants because that is the
/// number a Hugging Face <c>preprocessor_config.json</c> stores under <c>resample</c>.
/// </summary>
public enum ResampleFilter
{
    /// <summary>Pillow <c>BILINEAR</c> (2): triangle filter, support 1.</summary>
    Bilinear = 2,

    /// <summary>Pillow <c>BICUBIC</c> (3): Catmull-Rom cubic (a = -0.5), support 2. CLIP's default.</summary>
    Bicubic = 3,
}
