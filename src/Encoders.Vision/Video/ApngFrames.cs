using System.Buffers.Binary;
using LlavaModal.Encoders.Vision.Preprocessing;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace LlavaModal.Encoders.Vision.Video;

/// <summary>
/// The frames of an animated PNG (APNG), composited as the APNG specification says (each frame's region blended with
/// <c>blend_op</c> SOURCE or OVER, then disposed with <c>dispose_op</c> NONE, BACKGROUND or PREVIOUS before the next),
/// then sampled by the family's rule with the frames' delays (<c>delay_num / delay_den</c> s, a zero denominator meaning
/// 100, as the specification says; <see cref="AnimationTiming"/>); a PNG without animation is a one-frame video. Hand-written because ImageSharp 2.1 decodes
/// only the default image: each frame's data is rewrapped as a still PNG (its size in IHDR, <c>fdAT</c> as <c>IDAT</c>)
/// and decoded by ImageSharp. Alpha is dropped after compositing, as the image loader drops it.
/// </summary>
static class ApngFrames
{
    static readonly byte[] Signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    sealed record Control(int Width, int Height, int X, int Y, byte Dispose, byte Blend, double DelayMs);

    sealed class Frame(Control control)
    {
        public Control Control { get; } = control;
        public List<byte[]> Data { get; } = [];
    }

    /// <summary>Whether <paramref name="data"/> is a PNG file.</summary>
    public static bool IsPng(ReadOnlySpan<byte> data) => data.StartsWith(Signature);

    /// <summary>Decodes the frames <paramref name="rule"/> picks (<see cref="AnimationTiming.Pick"/>), in order.</summary>
    /// <exception cref="InvalidImageException">Malformed chunks or frames, a frame outside the canvas, or frames over the loader's pixel limit.</exception>
    public static IReadOnlyList<RgbImage> Read(ReadOnlyMemory<byte> data, string source, ImageLoader loader, FrameRule rule, VideoOptions options, CancellationToken cancellation)
    {
        var (header, shared, frames) = Parse(data.Span, source);
        if (frames is null) return [loader.Load(data.ToArray(), source)];
        int width = BinaryPrimitives.ReadInt32BigEndian(header), height = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(4));
        if ((long)width * height > loader.Options.MaxPixels)
            throw new InvalidImageException(source, $"{width}x{height} frames are over the limit of {loader.Options.MaxPixels} pixels (ImageLoaderOptions.MaxPixels).");
        var wanted = AnimationTiming.Pick(rule, [.. frames.Select(f => f.Control.DelayMs)], options);
        var canvas = new Rgba32[width * height];
        var result = new Dictionary<int, RgbImage>(wanted.Length);
        for (int i = 0; i <= wanted[^1]; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            var c = frames[i].Control;
            if (c.Width < 1 || c.Height < 1 || c.X < 0 || c.Y < 0 || (long)c.X + c.Width > width || (long)c.Y + c.Height > height)
                throw new InvalidImageException(source, $"APNG frame {i} ({c.Width}x{c.Height} at {c.X},{c.Y}) is not inside the {width}x{height} canvas.");
            var saved = c.Dispose == 2 ? (Rgba32[])canvas.Clone() : null;
            using (var image = DecodeFrame(header, shared, frames[i], source, i))
                Blend(canvas, width, image, c);
            if (Array.IndexOf(wanted, i) >= 0) result[i] = Rgb(canvas, width, height);
            if (c.Dispose == 1)
                for (int y = c.Y; y < c.Y + c.Height; y++) canvas.AsSpan(y * width + c.X, c.Width).Clear();
            else if (saved is not null) canvas = saved;
        }
        return [.. wanted.Select(i => result[i])];
    }

    /// <summary>The frames' delays in milliseconds (none for a still PNG).</summary>
    /// <exception cref="InvalidImageException">Malformed chunks.</exception>
    internal static double[] Durations(ReadOnlySpan<byte> data, string source) =>
        Parse(data, source).Frames is { } frames ? [.. frames.Select(f => f.Control.DelayMs)] : [];

    /// <summary>IHDR, the chunks every frame needs (PLTE, tRNS, colour information) and the frames, or null frames when there is no acTL.</summary>
    static (byte[] Header, List<(string Type, byte[] Data)> Shared, List<Frame>? Frames) Parse(ReadOnlySpan<byte> png, string source)
    {
        byte[]? header = null;
        var shared = new List<(string, byte[])>();
        List<Frame>? frames = null;
        Frame? current = null;
        bool animated = false, sawData = false, ended = false;
        int at = Signature.Length;
        while (at + 12 <= png.Length)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png[at..]);
            if (length < 0 || at + 12L + length > png.Length) throw new InvalidImageException(source, $"truncated PNG data: a chunk at byte {at} runs past the end.");
            string type = System.Text.Encoding.ASCII.GetString(png.Slice(at + 4, 4));
            var body = png.Slice(at + 8, length);
            at += 12 + length;
            switch (type)
            {
                case "IHDR": header = body.ToArray(); break;
                case "acTL": animated = true; frames = []; break;
                case "fcTL":
                    if (!animated || body.Length < 26) throw new InvalidImageException(source, "an APNG frame control (fcTL) without acTL or shorter than 26 bytes.");
                    current = new Frame(new Control(BinaryPrimitives.ReadInt32BigEndian(body[4..]), BinaryPrimitives.ReadInt32BigEndian(body[8..]),
                        BinaryPrimitives.ReadInt32BigEndian(body[12..]), BinaryPrimitives.ReadInt32BigEndian(body[16..]), body[24], body[25],
                        DelayMs(BinaryPrimitives.ReadUInt16BigEndian(body[20..]), BinaryPrimitives.ReadUInt16BigEndian(body[22..]))));
                    frames!.Add(current);
                    break;
                case "IDAT":
                    sawData = true;
                    current?.Data.Add(body.ToArray()); // the default image is frame 0 only when an fcTL came before it
                    break;
                case "fdAT":
                    if (current is null || body.Length < 4) throw new InvalidImageException(source, "APNG frame data (fdAT) before any frame control, or shorter than 4 bytes.");
                    current.Data.Add(body[4..].ToArray());
                    break;
                case "IEND": ended = true; break;
                default:
                    if (!sawData && type is "PLTE" or "tRNS" or "gAMA" or "cHRM" or "sRGB" or "iCCP" or "sBIT") shared.Add((type, body.ToArray()));
                    break;
            }
            if (ended) break;
        }
        if (!ended) throw new InvalidImageException(source, "truncated PNG data: no IEND chunk.");
        if (header is null || header.Length != 13) throw new InvalidImageException(source, "a PNG without a valid IHDR chunk.");
        if (frames is { Count: 0 }) throw new InvalidImageException(source, "an APNG with an acTL chunk but no frames.");
        return (header, shared, frames);
    }

    /// <summary><c>delay_num / delay_den</c> seconds in milliseconds; a denominator of 0 means 100 (the APNG specification).</summary>
    static double DelayMs(ushort numerator, ushort denominator) => numerator * 1000.0 / (denominator == 0 ? 100 : denominator);

    /// <summary>One frame as a still PNG (the frame's size in IHDR, its data as IDAT), decoded.</summary>
    static Image<Rgba32> DecodeFrame(byte[] header, List<(string Type, byte[] Data)> shared, Frame frame, string source, int index)
    {
        if (frame.Data.Count == 0) throw new InvalidImageException(source, $"APNG frame {index} has no image data.");
        using var png = new MemoryStream();
        png.Write(Signature);
        var ihdr = (byte[])header.Clone();
        BinaryPrimitives.WriteInt32BigEndian(ihdr, frame.Control.Width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), frame.Control.Height);
        Chunk(png, "IHDR", ihdr);
        foreach (var (type, data) in shared) Chunk(png, type, data);
        foreach (var data in frame.Data) Chunk(png, "IDAT", data);
        Chunk(png, "IEND", []);
        png.Position = 0;
        try { return Image.Load<Rgba32>(png); }
        catch (Exception e) when (e is ImageFormatException or InvalidImageContentException or UnknownImageFormatException or NotSupportedException)
        {
            throw new InvalidImageException(source, $"APNG frame {index} does not decode: {e.Message}", e);
        }
    }

    /// <summary>blend_op 0 (SOURCE) replaces the region; 1 (OVER) composites the frame over it (straight alpha).</summary>
    static void Blend(Rgba32[] canvas, int width, Image<Rgba32> image, Control c)
    {
        if (image.Width != c.Width || image.Height != c.Height) throw new InvalidOperationException("A frame decodes to its own size.");
        var pixels = new Rgba32[c.Width * c.Height];
        image.CopyPixelDataTo(pixels);
        for (int y = 0; y < c.Height; y++)
        {
            var row = pixels.AsSpan(y * c.Width, c.Width);
            var target = canvas.AsSpan((c.Y + y) * width + c.X, c.Width);
            for (int x = 0; x < c.Width; x++)
            {
                var s = row[x];
                if (c.Blend == 0 || s.A == 255) { target[x] = s; continue; }
                if (s.A == 0) continue;
                var d = target[x];
                float sa = s.A / 255f, da = d.A / 255f * (1 - sa), a = sa + da;
                target[x] = new Rgba32(
                    (byte)MathF.Round((s.R * sa + d.R * da) / a), (byte)MathF.Round((s.G * sa + d.G * da) / a),
                    (byte)MathF.Round((s.B * sa + d.B * da) / a), (byte)MathF.Round(a * 255));
            }
        }
    }

    static RgbImage Rgb(Rgba32[] canvas, int width, int height)
    {
        var rgb = new byte[(long)width * height * 3];
        for (int p = 0; p < canvas.Length; p++)
        {
            rgb[p * 3] = canvas[p].R;
            rgb[p * 3 + 1] = canvas[p].G;
            rgb[p * 3 + 2] = canvas[p].B;
        }
        return new RgbImage(width, height, rgb);
    }

    static void Chunk(Stream s, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        s.Write(word);
        var typed = new byte[4 + data.Length];
        System.Text.Encoding.ASCII.GetBytes(type, typed);
        data.CopyTo(typed, 4);
        s.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(word, System.IO.Hashing.Crc32.HashToUInt32(typed));
        s.Write(word);
    }
}
