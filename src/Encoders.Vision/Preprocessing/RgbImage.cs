namespace LlavaModal.Encoders.Vision.Preprocessing;

/// <summary>
/// An 8-bit RGB image stored row-major, channels interleaved (HWC: <c>Pixels[(y * Width + x) * 3 + c]</c>),
/// the layout Pillow and NumPy use, so buffers compare directly with the reference fixtures.
/// </summary>
public sealed class RgbImage
{
    /// <summary>Wraps <paramref name="pixels"/> (not copied) as a <paramref name="width"/> x <paramref name="height"/> RGB image.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is not positive.</exception>
    /// <exception cref="ArgumentException">The buffer length is not <c>width * height * 3</c>.</exception>
    public RgbImage(int width, int height, byte[] pixels)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentNullException.ThrowIfNull(pixels);
        if (pixels.LongLength != (long)width * height * 3)
            throw new ArgumentException($"Expected {(long)width * height * 3} bytes for a {width}x{height} RGB image, got {pixels.LongLength}.", nameof(pixels));
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>The pixels, HWC, 3 bytes per pixel (R, G, B).</summary>
    public byte[] Pixels { get; }

    /// <summary>Creates a <paramref name="width"/> x <paramref name="height"/> image filled with one colour.</summary>
    public static RgbImage Filled(int width, int height, byte r, byte g, byte b)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        var pixels = new byte[(long)width * height * 3];
        for (long i = 0; i < pixels.LongLength; i += 3)
        {
            pixels[i] = r;
            pixels[i + 1] = g;
            pixels[i + 2] = b;
        }
        return new RgbImage(width, height, pixels);
    }
}
