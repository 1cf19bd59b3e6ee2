using LlavaModal.Encoders.Vision.Preprocessing;

namespace LlavaModal.Encoders.Vision.LlavaNext;

/// <summary>
/// Turns an <see cref="RgbImage"/> into LLaVA-NeXT <c>pixel_values</c> exactly as transformers'
/// <c>LlavaNextImageProcessor</c> (with Pillow) does: pick the best pinpoint, resize the image to fit it (aspect kept),
/// centre it on a black canvas, cut the canvas into tiles, put the whole image resized to the base size in front, and
/// run every tile through the CLIP steps (resize to the shortest edge, centre crop, rescale, normalise).
/// </summary>
public sealed class LlavaNextImageProcessor
{
    readonly ClipImageProcessor tileProcessor;

    /// <summary>Creates a processor.</summary>
    /// <param name="config">The CLIP settings every tile goes through (from <c>preprocessor_config.json</c>).</param>
    /// <param name="settings">Pinpoints and tile size.</param>
    /// <exception cref="ArgumentException">The settings would not give tiles of <see cref="AnyResSettings.TileSize"/> (the message says which key).</exception>
    public LlavaNextImageProcessor(ImageProcessorConfig config, AnyResSettings settings)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(settings);
        int tile = settings.TileSize;
        if (config.CropHeight != tile || config.CropWidth != tile)
            throw new ArgumentException($"crop_size is {config.CropHeight}x{config.CropWidth} but the tiles are {tile}x{tile} (the vision tower's image_size).", nameof(config));
        bool exactResize = config.DoResize && config.ShortestEdge is null && config.ResizeHeight == tile && config.ResizeWidth == tile;
        if (!config.DoCenterCrop && !exactResize)
            throw new ArgumentException($"without do_center_crop the tiles keep the size the resize gives them; only a resize to exactly {tile}x{tile} works then.", nameof(config));
        Config = config;
        Settings = settings;
        tileProcessor = new ClipImageProcessor(config, padToSquare: false);
        BaseSize = config.ShortestEdge is int edge ? (edge, edge) : (config.ResizeWidth!.Value, config.ResizeHeight!.Value);
    }

    /// <summary>The CLIP settings every tile goes through.</summary>
    public ImageProcessorConfig Config { get; }

    /// <summary>Pinpoints and tile size.</summary>
    public AnyResSettings Settings { get; }

    /// <summary>The size the whole image is resized to for the base tile (<c>size</c>: the shortest edge as a square, or height and width).</summary>
    public (int Width, int Height) BaseSize { get; }

    /// <summary>Tiles and pixel values of <paramref name="image"/>.</summary>
    public AnyResImage Preprocess(RgbImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var layout = Settings.Layout(image.Width, image.Height);
        var canvas = Canvas(image, layout, Config.Resample);
        var tiles = new List<RgbImage>(layout.Tiles);
        var values = new List<float[]>(layout.Tiles);
        void Add(RgbImage tile)
        {
            var processed = tileProcessor.Preprocess(tile);
            if (processed.Width != Settings.TileSize || processed.Height != Settings.TileSize)
                throw new InvalidOperationException($"a tile came out {processed.Width}x{processed.Height}, not {Settings.TileSize}x{Settings.TileSize}.");
            tiles.Add(processed.Cropped);
            values.Add(processed.PixelValues);
        }

        Add(PillowBicubicResampler.Resize(image, BaseSize.Width, BaseSize.Height, Config.Resample));
        int size = Settings.TileSize;
        for (int y = 0; y < canvas.Height; y += size)
            for (int x = 0; x < canvas.Width; x += size)
                Add(Crop(canvas, x, y, Math.Min(size, canvas.Width - x), Math.Min(size, canvas.Height - y)));
        if (tiles.Count != layout.Tiles)
            throw new InvalidOperationException($"a {canvas.Width}x{canvas.Height} canvas gave {tiles.Count - 1} tiles, the layout expects {layout.Tiles - 1}.");

        int per = values[0].Length;
        var pixels = new float[(long)per * values.Count];
        for (int i = 0; i < values.Count; i++) Array.Copy(values[i], 0, pixels, (long)i * per, per);
        return new AnyResImage(layout, canvas, tiles, pixels, size);
    }

    /// <summary>The image resized to fit the pinpoint (aspect kept) and pasted on black with equal margins on opposite sides.</summary>
    static RgbImage Canvas(RgbImage image, AnyResLayout layout, ResampleFilter resample)
    {
        var resized = PillowBicubicResampler.Resize(image, layout.ResizedWidth, layout.ResizedHeight, resample);
        if (layout.PadLeft == 0 && layout.PadTop == 0) return resized;
        var canvas = new RgbImage(layout.CanvasWidth, layout.CanvasHeight, new byte[(long)layout.CanvasWidth * layout.CanvasHeight * 3]);
        for (int y = 0; y < resized.Height; y++)
            Array.Copy(resized.Pixels, (long)y * resized.Width * 3, canvas.Pixels, ((long)(layout.PadTop + y) * canvas.Width + layout.PadLeft) * 3, (long)resized.Width * 3);
        return canvas;
    }

    static RgbImage Crop(RgbImage image, int left, int top, int width, int height)
    {
        var pixels = new byte[(long)width * height * 3];
        for (int y = 0; y < height; y++)
            Array.Copy(image.Pixels, ((long)(top + y) * image.Width + left) * 3, pixels, (long)y * width * 3, (long)width * 3);
        return new RgbImage(width, height, pixels);
    }
}
