namespace LlavaModal.Encoders.Vision.Preprocessing;

/// <summary>
/// Turns an image stored with an EXIF <c>Orientation</c> into the upright one, with the same transposes Pillow's
/// <c>ImageOps.exif_transpose</c> uses (which transformers' <c>load_image</c> calls): 2 mirror, 3 rotate 180°,
/// 4 flip, 5 transpose, 6 rotate 90° clockwise, 7 transverse, 8 rotate 90° counter-clockwise.
/// </summary>
static class ExifOrientation
{
    /// <summary>The upright image; <paramref name="image"/> itself for orientation 1 or an unknown value.</summary>
    public static RgbImage Apply(RgbImage image, int orientation)
    {
        if (orientation is < 2 or > 8) return image;
        int w = image.Width, h = image.Height;
        bool swaps = orientation >= 5; // 5..8 exchange width and height
        int outW = swaps ? h : w, outH = swaps ? w : h;
        // Along an output row the stored pixel moves by a fixed step: one pixel left/right, or one row up/down.
        long step = orientation switch
        {
            2 or 3 => -3,
            4 => 3,
            5 or 8 => 3L * w,
            _ => -3L * w, // 6, 7
        };
        var src = image.Pixels;
        var dst = new byte[src.LongLength];
        for (int y = 0; y < outH; y++)
        {
            // (sx, sy): the stored pixel shown at (0, y) of the upright image.
            (int sx, int sy) = orientation switch
            {
                2 => (w - 1, y),
                3 => (w - 1, h - 1 - y),
                4 => (0, h - 1 - y),
                5 => (y, 0),
                6 => (y, h - 1),
                7 => (w - 1 - y, h - 1),
                _ => (w - 1 - y, 0), // 8
            };
            long s = ((long)sy * w + sx) * 3, d = (long)y * outW * 3;
            for (int x = 0; x < outW; x++, s += step, d += 3)
            {
                dst[d] = src[s];
                dst[d + 1] = src[s + 1];
                dst[d + 2] = src[s + 2];
            }
        }
        return new RgbImage(outW, outH, dst);
    }
}
