using LlavaModal.Abstractions.IO;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Tiff;
using SixLabors.ImageSharp.Memory;
using SixLabors.ImageSharp.Metadata;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace LlavaModal.Encoders.Vision.Preprocessing;

/// <summary>
/// Decodes PNG, JPEG, GIF, BMP, TGA, TIFF and WebP into <see cref="RgbImage"/> the way transformers' <c>load_image</c>
/// does with Pillow (<c>exif_transpose</c>, then <c>convert("RGB")</c>): gray is replicated to R=G=B, palette entries
/// become their colours, CMYK JPEG is converted with Pillow's formula, and alpha is DROPPED without compositing (the colour
/// under a transparent pixel is kept). JPEG is decoded by libjpeg-turbo (through SkiaSharp) with Pillow's settings, so
/// its pixels are the reference's exactly; the other formats by ImageSharp 2.1.
/// Input is untrusted: size limits are checked from the header before decoding, truncated PNG / JPEG data is
/// refused (as Pillow does; the decoders alone would fill in the missing rows), and every decoding failure
/// becomes an <see cref="InvalidImageException"/> naming the source.
/// </summary>
public sealed class ImageLoader
{
    /// <summary>
    /// ImageSharp's defaults, except that multi-frame GIF and TIFF decode only their first frame: that is the
    /// frame Pillow's <c>convert("RGB")</c> yields, and it keeps the pixel limit meaningful for animations.
    /// </summary>
    static readonly Configuration DecoderConfiguration = CreateConfiguration();

    static Configuration CreateConfiguration()
    {
        var configuration = Configuration.Default.Clone();
        configuration.ImageFormatsManager.SetDecoder(GifFormat.Instance, new GifDecoder { DecodingMode = FrameDecodingMode.First });
        configuration.ImageFormatsManager.SetDecoder(TiffFormat.Instance, new TiffDecoder { DecodingMode = FrameDecodingMode.First });
        return configuration;
    }

    /// <summary>Creates a loader with <paramref name="options"/> (defaults when <see langword="null"/>).</summary>
    public ImageLoader(ImageLoaderOptions? options = null) => Options = options ?? new ImageLoaderOptions();

    /// <summary>The limits and behaviour in use.</summary>
    public ImageLoaderOptions Options { get; }

    /// <summary>Decodes the file at <paramref name="path"/>.</summary>
    /// <exception cref="InvalidImageException">The file is missing, not a regular file, empty, corrupt, truncated, of an unknown format or over a size limit.</exception>
    public RgbImage LoadFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        // Regular files only, size checked before reading: a FIFO would block and /dev/zero never end.
        var data = InputFiles.ReadAllBytes(path, Options.MaxEncodedBytes, "ImageLoaderOptions.MaxEncodedBytes", message => new InvalidImageException(path, message));
        return Decode(data, path);
    }

    /// <summary>Decodes an encoded image held in memory; <paramref name="sourceName"/> names it in error messages.</summary>
    /// <exception cref="InvalidImageException">The data is empty, corrupt, truncated, of an unknown format or over a size limit.</exception>
    public RgbImage Load(byte[] data, string sourceName = "image")
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.LongLength > Options.MaxEncodedBytes) throw TooManyBytes(sourceName, data.LongLength);
        return Decode(data, sourceName);
    }

    /// <summary>Decodes an encoded image read from <paramref name="stream"/> (from its current position to its end).</summary>
    /// <exception cref="InvalidImageException">The data is empty, corrupt, truncated, of an unknown format or over a size limit.</exception>
    public RgbImage Load(Stream stream, string sourceName = "stream")
    {
        ArgumentNullException.ThrowIfNull(stream);
        // Whole-buffer access is needed for the truncation check and the two passes (identify, decode); the copy is bounded by MaxEncodedBytes.
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = stream.Read(chunk)) > 0)
        {
            if (buffer.Length + read > Options.MaxEncodedBytes) throw TooManyBytes(sourceName, buffer.Length + read);
            buffer.Write(chunk, 0, read);
        }
        return Decode(buffer.ToArray(), sourceName);
    }

    InvalidImageException TooManyBytes(string source, long length) =>
        new(source, $"{length} bytes of encoded data (or more), over the limit of {Options.MaxEncodedBytes} bytes (ImageLoaderOptions.MaxEncodedBytes).");

    RgbImage Decode(byte[] data, string source)
    {
        if (data.Length == 0) throw new InvalidImageException(source, "empty input (0 bytes), not an image.");
        if (JpegHeader.IsJpeg(data)) return DecodeJpeg(data, source);
        var configuration = DecoderConfiguration;
        try
        {
            var info = Image.Identify(configuration, data, out IImageFormat? format);
            if (info is null || format is null) throw new InvalidImageException(source, "unknown or unsupported image format.");
            CheckSize(info.Width, info.Height, source);
            var truncated = format is PngFormat ? TruncationCheck.Png(data) : null;
            if (truncated is not null) throw new InvalidImageException(source, truncated);

            using var stream = new MemoryStream(data, writable: false);
            // 16-bit PNGs keep their high byte, as Pillow's RGB;16B unpacking does; ImageSharp's own 16 -> 8 bit conversion rounds instead.
            return format is PngFormat && info.Metadata.GetPngMetadata().BitDepth == PngBitDepth.Bit16
                ? DecodeAs<Rgba64>(stream, configuration, static (in Rgba64 p, Span<byte> rgb) =>
                {
                    rgb[0] = (byte)(p.R >> 8);
                    rgb[1] = (byte)(p.G >> 8);
                    rgb[2] = (byte)(p.B >> 8);
                })
                : DecodeAs<Rgba32>(stream, configuration, static (in Rgba32 p, Span<byte> rgb) =>
                {
                    rgb[0] = p.R;
                    rgb[1] = p.G;
                    rgb[2] = p.B;
                });
        }
        catch (UnknownImageFormatException e)
        {
            throw new InvalidImageException(source, "unknown or unsupported image format.", e);
        }
        catch (InvalidImageContentException e)
        {
            throw new InvalidImageException(source, $"corrupt or truncated image data: {e.Message}", e);
        }
        catch (ImageFormatException e)
        {
            throw new InvalidImageException(source, $"cannot decode the image: {e.Message}", e);
        }
        catch (InvalidMemoryOperationException e)
        {
            throw new InvalidImageException(source, $"image too large to decode: {e.Message}", e);
        }
        catch (NotSupportedException e)
        {
            throw new InvalidImageException(source, $"unsupported image: {e.Message}", e);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidImageException(source, "truncated image data (unexpected end of input).", e);
        }
        catch (InvalidOperationException e)
        {
            // ImageSharp's BMP reader reports a header over 65535 pixels wide or high this way (found by the image fuzzer).
            throw new InvalidImageException(source, $"cannot decode the image: {e.Message}", e);
        }
    }

    void CheckSize(int width, int height, string source)
    {
        long pixels = (long)width * height;
        if (width <= 0 || height <= 0)
            throw new InvalidImageException(source, $"invalid image size {width}x{height}.");
        if (pixels > Options.MaxPixels)
            throw new InvalidImageException(source, $"image is {width}x{height} = {pixels} pixels, over the limit of {Options.MaxPixels} pixels (ImageLoaderOptions.MaxPixels); refusing to decode it.");
    }

    /// <summary>
    /// JPEG goes through libjpeg-turbo (see <see cref="JpegDecoder"/>) so photos get the reference's exact pixels; the
    /// frame header is read here first, so the size limit holds before any decoder allocates.
    /// </summary>
    RgbImage DecodeJpeg(byte[] data, string source)
    {
        var error = JpegHeader.TryRead(data, out var header);
        if (error is not null) throw new InvalidImageException(source, error);
        CheckSize(header.Width, header.Height, source);
        // Pillow's libjpeg-turbo decodes 8-bit lossy JPEG only; refuse the rest as it does, rather than decode it differently.
        if (header.Precision != 8) throw new InvalidImageException(source, $"unsupported JPEG: {header.Precision}-bit samples (only 8-bit JPEG is decoded).");
        if (header.IsLossless) throw new InvalidImageException(source, "unsupported JPEG: lossless coding.");
        if (header.Components is not (1 or 3 or 4)) throw new InvalidImageException(source, $"unsupported JPEG: {header.Components} colour components.");
        var truncated = TruncationCheck.Jpeg(data) ?? JpegScanCheck.Problem(data);
        if (truncated is not null) throw new InvalidImageException(source, truncated);
        var image = JpegDecoder.Decode(data, header, source);
        return Options.ApplyExifOrientation ? ExifOrientation.Apply(image, header.Orientation) : image;
    }

    delegate void PixelToRgb<TPixel>(in TPixel pixel, Span<byte> rgb);

    RgbImage DecodeAs<TPixel>(Stream stream, Configuration configuration, PixelToRgb<TPixel> toRgb)
        where TPixel : unmanaged, IPixel<TPixel>
    {
        // Decoding straight into a non-premultiplied RGBA format keeps the colour under alpha = 0 untouched; alpha is then dropped here.
        using var image = Image.Load<TPixel>(configuration, stream);
        if (Options.ApplyExifOrientation) image.Mutate(x => x.AutoOrient());
        int width = image.Width, height = image.Height;
        var pixels = new byte[(long)width * height * 3];
        image.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < height; y++)
            {
                var src = rows.GetRowSpan(y);
                var dst = pixels.AsSpan(checked(y * width * 3), width * 3);
                for (int x = 0; x < width; x++) toRgb(in src[x], dst.Slice(x * 3, 3));
            }
        });
        return new RgbImage(width, height, pixels);
    }
}
