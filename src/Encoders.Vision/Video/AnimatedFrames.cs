using System.Runtime.InteropServices;
using LlavaModal.Encoders.Vision.Preprocessing;
using SkiaSharp;

namespace LlavaModal.Encoders.Vision.Video;

/// <summary>
/// The frames of an animated GIF or WebP, each composited onto the canvas as a viewer shows it (Skia's codec applies
/// each frame's blend and disposal over the frame it depends on), then sampled by the family's rule as a video file is,
/// the frame rate coming from the frames' durations (<see cref="AnimationTiming"/>). Alpha is dropped, as the image loader does.
/// </summary>
static class AnimatedFrames
{
    /// <summary>Whether <paramref name="data"/> starts like a GIF or a WebP file.</summary>
    public static bool IsAnimatedFormat(ReadOnlySpan<byte> data) =>
        data.StartsWith("GIF8"u8) || (data.Length >= 12 && data.StartsWith("RIFF"u8) && data[8..12].SequenceEqual("WEBP"u8));

    /// <summary>Decodes the frames <paramref name="rule"/> picks (<see cref="AnimationTiming.Pick"/>), in order.</summary>
    /// <exception cref="InvalidImageException">Undecodable, truncated, or frames over the loader's pixel limit.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was cancelled (checked between frames).</exception>
    public static IReadOnlyList<RgbImage> Read(ReadOnlyMemory<byte> data, string source, ImageLoaderOptions limits, FrameRule rule, VideoOptions options, CancellationToken cancellation)
    {
        // A cut file would decode to its first frames without complaint: refuse it, as the loader refuses a cut PNG or JPEG.
        if (Truncated(data.Span) is { } problem) throw new InvalidImageException(source, problem);
        using var encoded = SKData.CreateCopy(data.Span);
        using var codec = SKCodec.Create(encoded) ?? throw new InvalidImageException(source, "not a GIF or WebP image Skia can decode.");
        var (width, height) = (codec.Info.Width, codec.Info.Height);
        long pixels = (long)width * height;
        if (pixels > limits.MaxPixels)
            throw new InvalidImageException(source, $"{width}x{height} frames are over the limit of {limits.MaxPixels} pixels (ImageLoaderOptions.MaxPixels).");
        var infos = codec.FrameInfo;
        int total = Math.Max(1, codec.FrameCount);
        var wanted = AnimationTiming.Pick(rule, Durations(infos, total), options);
        // Compositing needs the frames a frame builds on: each canvas is kept until the last frame that starts from it.
        int last = wanted[^1];
        var lastUse = new int[last + 1];
        for (int i = 0; i <= last; i++)
            if (infos.Length > i && infos[i].RequiredFrame is int r and >= 0 && r < i) lastUse[r] = i;
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var canvases = new byte[]?[last + 1];
        var frames = new Dictionary<int, RgbImage>(wanted.Length);
        for (int i = 0; i <= last; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            int prior = infos.Length > i ? infos[i].RequiredFrame : -1;
            if (prior >= 0 && (prior >= i || canvases[prior] is null)) throw new InvalidImageException(source, $"frame {i} builds on frame {prior}, which is not a frame before it.");
            var canvas = prior >= 0 ? (byte[])canvases[prior]!.Clone() : new byte[pixels * 4];
            var handle = GCHandle.Alloc(canvas, GCHandleType.Pinned);
            SKCodecResult result;
            try { result = codec.GetPixels(info, handle.AddrOfPinnedObject(), new SKCodecOptions(i, prior)); }
            finally { handle.Free(); }
            if (result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
                throw new InvalidImageException(source, $"frame {i} does not decode ({result}).");
            if (result == SKCodecResult.IncompleteInput) throw new InvalidImageException(source, $"truncated image data: frame {i} is incomplete.");
            if (Array.IndexOf(wanted, i) >= 0) frames[i] = Rgb(canvas, width, height);
            canvases[i] = lastUse[i] > i ? canvas : null;
            for (int j = 0; j < i; j++)
                if (lastUse[j] <= i) canvases[j] = null;
        }
        return [.. wanted.Select(i => frames[i])];
    }

    /// <summary>Each frame's stored duration in milliseconds (GIF delays are kept by Skia in ms); a still file has one frame of unknown (0) duration.</summary>
    static double[] Durations(SKCodecFrameInfo[] infos, int total) => [.. Enumerable.Range(0, total).Select(i => i < infos.Length ? (double)infos[i].Duration : 0)];

    /// <summary>The stored frame durations of a GIF or WebP, in milliseconds.</summary>
    /// <exception cref="InvalidImageException">Not a file Skia can decode.</exception>
    internal static double[] Durations(ReadOnlySpan<byte> data, string source)
    {
        using var encoded = SKData.CreateCopy(data);
        using var codec = SKCodec.Create(encoded) ?? throw new InvalidImageException(source, "not a GIF or WebP image Skia can decode.");
        return Durations(codec.FrameInfo, Math.Max(1, codec.FrameCount));
    }

    /// <summary>A GIF ends with its trailer byte (0x3B); a WebP's RIFF header gives the file's length.</summary>
    static string? Truncated(ReadOnlySpan<byte> data)
    {
        if (data.StartsWith("GIF8"u8))
            return data[^1] == 0x3B ? null : "truncated GIF data: the file does not end with the GIF trailer (0x3B).";
        long declared = 8L + System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(data[4..8]);
        return declared <= data.Length ? null : $"truncated WebP data: the RIFF header declares {declared} bytes, the input has {data.Length}.";
    }

    static RgbImage Rgb(byte[] rgba, int width, int height)
    {
        var rgb = new byte[(long)width * height * 3];
        for (long p = 0, q = 0; p < rgba.LongLength; p += 4, q += 3)
        {
            rgb[q] = rgba[p];
            rgb[q + 1] = rgba[p + 1];
            rgb[q + 2] = rgba[p + 2];
        }
        return new RgbImage(width, height, rgb);
    }
}
