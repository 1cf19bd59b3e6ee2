using LlavaModal.Abstractions;
namespace LlavaModal.Encoders.Vision.Preprocessing;

/// <summary>
/// Turns an <see cref="RgbImage"/> into CLIP <c>pixel_values</c> exactly as the Hugging Face
/// <c>CLIPImageProcessor</c> (with Pillow) does: optional LLaVA-1.5 pad-to-square, resize (Pillow-exact
/// resampling), centre crop, rescale and normalise.
/// </summary>
public sealed class ClipImageProcessor : IImageProcessor
{
    readonly PixelNormalizer normalizer;

    /// <summary>Creates a processor.</summary>
    /// <param name="config">The processor settings (from <c>preprocessor_config.json</c>).</param>
    /// <param name="padToSquare">
    /// LLaVA-1.5 behaviour (default): pad the image to a square of side max(width, height), filled with the
    /// mean colour <c>(int)(255 * mean)</c> and centred, before the processor runs, so nothing is cropped away.
    /// <see langword="false"/> gives the plain <c>LlavaProcessor</c> behaviour (non-square images lose their sides to the crop).
    /// </param>
    /// <exception cref="ArgumentException"><c>image_mean</c> / <c>image_std</c> do not have 3 entries, or a size is not positive.</exception>
    public ClipImageProcessor(ImageProcessorConfig config, bool padToSquare = true)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.ImageMean.Count != 3 || config.ImageStd.Count != 3)
            throw new ArgumentException("image_mean and image_std need exactly 3 entries (R, G, B).", nameof(config));
        if (config.DoResize && (config.ShortestEdge is null or <= 0) && (config.ResizeHeight is null or <= 0 || config.ResizeWidth is null or <= 0))
            throw new ArgumentException("Resizing needs a positive shortest edge or a positive height and width.", nameof(config));
        if (config.DoCenterCrop && (config.CropHeight <= 0 || config.CropWidth <= 0))
            throw new ArgumentException("The crop size must be positive.", nameof(config));
        Config = config;
        PadToSquare = padToSquare;
        normalizer = new PixelNormalizer(config);
    }

    /// <summary>Creates a processor from <c>preprocessor_config.json</c> in <paramref name="directory"/> (CLIP defaults when absent).</summary>
    /// <exception cref="ConfigException">The file holds a malformed or unsupported value.</exception>
    public static ClipImageProcessor FromDirectory(string directory, bool padToSquare = true) =>
        new(ImageProcessorConfig.LoadFromDirectory(directory), padToSquare);

    /// <summary>The processor settings.</summary>
    public ImageProcessorConfig Config { get; }

    /// <summary>Whether images are padded to a square first (LLaVA-1.5).</summary>
    public bool PadToSquare { get; }

    /// <summary>Largest image, in pixels, any step may make (padding to a square, resizing); default <see cref="ImageLoaderOptions.DefaultMaxPixels"/>.</summary>
    public long MaxPixels { get; init; } = ImageLoaderOptions.DefaultMaxPixels;

    /// <summary>Pads (if enabled), resizes, crops, rescales and normalises <paramref name="image"/>.</summary>
    /// <param name="image">The decoded image.</param>
    /// <param name="source">Names the image in errors.</param>
    /// <exception cref="InvalidImageException">
    /// The aspect ratio is so extreme that the padded square or the resized image would exceed <see cref="MaxPixels"/>
    /// (a 1x20000 strip would become a 20000x20000 square, 1.2 GB, from an 80 KB file).
    /// </exception>
    public PreprocessedImage Preprocess(RgbImage image, string source = "image")
    {
        ArgumentNullException.ThrowIfNull(image);
        if (PadToSquare)
        {
            long side = Math.Max(image.Width, image.Height);
            if (side * side > MaxPixels)
                throw new InvalidImageException(source, $"padding {image.Width}x{image.Height} to a square gives {side}x{side} = {side * side} pixels, over the limit of {MaxPixels} pixels (ImageLoaderOptions.MaxPixels); the aspect ratio is too extreme.");
            image = ExpandToSquare(image, PadColor(Config));
        }
        if (Config.DoResize)
        {
            var (w, h) = ResizedSize(image.Width, image.Height);
            // A 1-pixel-wide strip scaled to a 336 short side can ask for billions of pixels; refuse instead of exhausting memory.
            if ((long)w * h > MaxPixels)
                throw new InvalidImageException(source, $"resizing {image.Width}x{image.Height} gives {w}x{h}, over the limit of {MaxPixels} pixels (ImageLoaderOptions.MaxPixels); the aspect ratio is too extreme.");
            image = PillowBicubicResampler.Resize(image, w, h, Config.Resample);
        }
        if (Config.DoCenterCrop) image = CenterCrop(image, Config.CropWidth, Config.CropHeight);
        return new PreprocessedImage(image, normalizer.ToPixelValues(image));
    }

    /// <summary>Output size of the resize step for a <paramref name="width"/> x <paramref name="height"/> input.</summary>
    internal (int Width, int Height) ResizedSize(int width, int height)
    {
        if (Config.ShortestEdge is not int edge) return (Config.ResizeWidth!.Value, Config.ResizeHeight!.Value);
        int shortSide = Math.Min(width, height), longSide = Math.Max(width, height);
        // Python's int(edge * long / short): exact integer product, one correctly rounded division, truncation.
        int newLong = (int)Math.Min((double)((long)edge * longSide) / shortSide, int.MaxValue);
        return width <= height ? (edge, newLong) : (newLong, edge);
    }

    /// <summary>The LLaVA-1.5 padding colour: <c>int(255 * mean)</c> per channel, (122, 116, 104) for CLIP.</summary>
    internal static (byte R, byte G, byte B) PadColor(ImageProcessorConfig config)
    {
        static byte Channel(double mean) => (byte)Math.Clamp((int)(mean * 255), 0, 255);
        return (Channel(config.ImageMean[0]), Channel(config.ImageMean[1]), Channel(config.ImageMean[2]));
    }

    /// <summary>LLaVA's <c>expand2square</c>: the image pasted at ((side-w)/2, (side-h)/2) on a square of side max(w, h).</summary>
    internal static RgbImage ExpandToSquare(RgbImage image, (byte R, byte G, byte B) fill)
    {
        if (image.Width == image.Height) return image;
        int side = Math.Max(image.Width, image.Height);
        var square = RgbImage.Filled(side, side, fill.R, fill.G, fill.B);
        Paste(image, square, (side - image.Width) / 2, (side - image.Height) / 2);
        return square;
    }

    /// <summary>
    /// transformers' <c>center_crop</c>: crop at <c>((h-ch)//2, (w-cw)//2)</c>; along a side shorter than the crop
    /// the image is instead placed at <c>ceil((c-n)/2)</c> on a zero (black) background.
    /// </summary>
    internal static RgbImage CenterCrop(RgbImage image, int cropWidth, int cropHeight)
    {
        if (image.Width == cropWidth && image.Height == cropHeight) return image;
        var (srcX, dstX, spanX) = Axis(image.Width, cropWidth);
        var (srcY, dstY, spanY) = Axis(image.Height, cropHeight);
        var output = new byte[(long)cropWidth * cropHeight * 3];
        for (int y = 0; y < spanY; y++)
            Array.Copy(image.Pixels, ((long)(srcY + y) * image.Width + srcX) * 3, output, ((long)(dstY + y) * cropWidth + dstX) * 3, (long)spanX * 3);
        return new RgbImage(cropWidth, cropHeight, output);

        static (int Src, int Dst, int Span) Axis(int size, int crop) =>
            size >= crop ? ((size - crop) / 2, 0, crop) : (0, (crop - size + 1) / 2, size);
    }

    static void Paste(RgbImage source, RgbImage target, int left, int top)
    {
        for (int y = 0; y < source.Height; y++)
            Array.Copy(source.Pixels, (long)y * source.Width * 3, target.Pixels, ((long)(top + y) * target.Width + left) * 3, (long)source.Width * 3);
    }
}
