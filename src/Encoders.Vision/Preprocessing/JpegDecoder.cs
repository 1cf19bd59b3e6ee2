using System.Buffers;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SkiaSharp;

namespace LlavaModal.Encoders.Vision.Preprocessing;

/// <summary>
/// Decodes JPEG through SkiaSharp, whose native library embeds libjpeg-turbo and asks it for what Pillow asks: the
/// accurate integer IDCT (ISLOW) and fancy (triangle) chroma upsampling, RGB, gray or CMYK output, and no colour
/// management (embedded ICC profiles are ignored, as Pillow's <c>convert("RGB")</c> ignores them). Its CMYK to RGB
/// step (<c>R = round(C' * K' / 255)</c> on the stored, Adobe-inverted values) equals Pillow's <c>CMYK;I</c> unpacking
/// followed by <c>cmyk2rgb</c> for every input (the division never ties), so every JPEG kind comes out with the
/// reference's pixels. ImageSharp's own JPEG decoder differs by up to 60-90 levels on subsampled photos.
/// </summary>
static class JpegDecoder
{
    /// <summary>Rows decoded per call: bounds the RGBA staging buffer while keeping the native calls few.</summary>
    const int RowsPerChunk = 16;

    /// <summary>Decodes <paramref name="data"/> (already checked: header, size limit, complete marker structure) to RGB, as stored.</summary>
    public static RgbImage Decode(byte[] data, in JpegHeader header, string source)
    {
        try
        {
            return DecodeWithSkia(data, header, source);
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException or BadImageFormatException)
        {
            throw new InvalidImageException(source,
                "cannot decode JPEG: SkiaSharp's native library (libSkiaSharp) could not be loaded on this platform. "
                + $"It comes from the SkiaSharp.NativeAssets.* packages. {e.Message}", e);
        }
    }

    static RgbImage DecodeWithSkia(byte[] data, in JpegHeader header, string source)
    {
        // Skia reads the managed bytes in place (no native copy); they stay pinned until the codec is gone.
        var pin = GCHandle.Alloc(data, GCHandleType.Pinned);
        try
        {
            using var encoded = SKData.Create(pin.AddrOfPinnedObject(), data.Length);
            return DecodeWithSkia(encoded, header, source);
        }
        finally
        {
            pin.Free();
        }
    }

    static RgbImage DecodeWithSkia(SKData encoded, in JpegHeader header, string source)
    {
        using var codec = SKCodec.Create(encoded)
            ?? throw new InvalidImageException(source, "corrupt JPEG: the decoder could not read its headers.");
        if (codec.EncodedFormat != SKEncodedImageFormat.Jpeg || codec.Info.Width != header.Width || codec.Info.Height != header.Height)
            throw new InvalidImageException(source,
                $"corrupt JPEG: the decoder sees a {codec.EncodedFormat} of {codec.Info.Width}x{codec.Info.Height}, the header says {header.Width}x{header.Height}.");

        int width = header.Width, height = header.Height;
        // RGBA without premultiplication and without a colour space: libjpeg's output bytes, one padding byte each.
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var started = codec.StartScanlineDecode(info);
        if (started != SKCodecResult.Success) throw new InvalidImageException(source, $"cannot decode the JPEG: {Describe(started)}");

        var pixels = new byte[(long)width * height * 3];
        int rowBytes = width * 4;
        // Pooled: a fresh staging array per image lands on the large-object heap and splits the block the next
        // image's pixels would reuse, which measurably slowed repeated decoding.
        var staging = ArrayPool<byte>.Shared.Rent(rowBytes * Math.Min(RowsPerChunk, height));
        var handle = GCHandle.Alloc(staging, GCHandleType.Pinned);
        try
        {
            for (int y = 0; y < height; y += RowsPerChunk)
            {
                int rows = Math.Min(RowsPerChunk, height - y);
                int decoded = codec.GetScanlines(handle.AddrOfPinnedObject(), rows, rowBytes);
                // Fewer rows means libjpeg hit corrupt or missing data; Skia would fill the rest, Pillow raises.
                if (decoded != rows) throw new InvalidImageException(source, $"corrupt or truncated JPEG data: rows from {y + decoded} on could not be decoded.");
                DropAlpha(staging.AsSpan(0, rows * rowBytes), pixels.AsSpan(checked((int)((long)y * width * 3)), rows * width * 3));
            }
        }
        finally
        {
            handle.Free();
            ArrayPool<byte>.Shared.Return(staging);
        }
        return new RgbImage(width, height, pixels);
    }

    /// <summary>Keeps R, G, B of each RGBA pixel: Skia has no packed 3-byte colour type to decode into.</summary>
    static void DropAlpha(ReadOnlySpan<byte> rgba, Span<byte> rgb)
    {
        int i = 0, j = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            // 4 pixels per step: 16 bytes in, 12 out (the 4 zero bytes written after them are overwritten by the next step).
            var keepRgb = Vector128.Create((byte)0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 0x80, 0x80, 0x80, 0x80);
            for (; j + 16 <= rgb.Length; i += 16, j += 12)
                Vector128.Shuffle(Vector128.Create(rgba.Slice(i, 16)), keepRgb).CopyTo(rgb[j..]);
        }
        for (; j < rgb.Length; i += 4, j += 3)
        {
            rgb[j] = rgba[i];
            rgb[j + 1] = rgba[i + 1];
            rgb[j + 2] = rgba[i + 2];
        }
    }

    static string Describe(SKCodecResult result) => result switch
    {
        SKCodecResult.IncompleteInput => "truncated image data.",
        SKCodecResult.ErrorInInput or SKCodecResult.InvalidInput => "corrupt image data.",
        SKCodecResult.Unimplemented => "a JPEG variant the decoder does not support.",
        _ => $"the decoder reported {result}.",
    };
}
