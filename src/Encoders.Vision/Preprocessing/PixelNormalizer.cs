namespace LlavaModal.Encoders.Vision.Preprocessing;

/// <summary>
/// The rescale and normalise steps every image processor ends with, HWC bytes to CHW floats. Every byte's final value
/// per channel is computed once with the reference's arithmetic: the rescale multiply in float64 then cast to float32,
/// then <c>(x - float32(mean)) / float32(std)</c> in float32.
/// </summary>
sealed class PixelNormalizer
{
    readonly float[][] lookup = new float[3][];

    public PixelNormalizer(ImageProcessorConfig config)
    {
        for (int c = 0; c < 3; c++)
        {
            float mean = (float)config.ImageMean[c], std = (float)config.ImageStd[c];
            var table = lookup[c] = new float[256];
            for (int v = 0; v < 256; v++)
            {
                float x = config.DoRescale ? (float)(v * config.RescaleFactor) : v;
                table[v] = config.DoNormalize ? (x - mean) / std : x;
            }
        }
    }

    /// <summary>Channel-major pixel values (<c>[c * Height * Width + y * Width + x]</c>) of <paramref name="image"/>.</summary>
    public float[] ToPixelValues(RgbImage image)
    {
        int plane = image.Width * image.Height;
        var values = new float[3 * plane];
        var src = image.Pixels;
        for (int c = 0; c < 3; c++)
        {
            var table = lookup[c];
            int offset = c * plane;
            for (int i = 0; i < plane; i++) values[offset + i] = table[src[i * 3 + c]];
        }
        return values;
    }
}
