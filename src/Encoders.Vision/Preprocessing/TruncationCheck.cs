using System.Buffers.Binary;

namespace LlavaModal.Encoders.Vision.Preprocessing;

/// <summary>
/// Structural end-of-data checks for PNG and JPEG. Written by hand because ImageSharp 2.1 (PNG) and Skia (JPEG)
/// decode a truncated file without error (missing rows come out blank or grey), whereas the reference (Pillow)
/// refuses it as "image file is truncated"; a half-received upload must not silently reach the model.
/// </summary>
static class TruncationCheck
{
    /// <summary>
    /// Returns why a PNG is incomplete, or <see langword="null"/>: every chunk must be whole, the last must be IEND, and the
    /// compressed image data must inflate to every row the header declares (an 8000x8000 PNG whose IDAT holds 100 rows,
    /// then IEND, is structurally whole; ImageSharp would return it with the rest blank, Pillow refuses it).
    /// </summary>
    public static string? Png(byte[] data)
    {
        long pos = 8; // signature, already recognised by ImageSharp
        var idat = new List<(int Offset, int Length)>();
        ReadOnlySpan<byte> header = default;
        while (pos + 8 <= data.Length)
        {
            long length = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan((int)pos));
            var type = data.AsSpan((int)pos + 4, 4);
            long end = pos + 12 + length; // length, type, data, CRC
            if (end > data.Length)
                return $"truncated PNG: the {System.Text.Encoding.ASCII.GetString(type)} chunk at byte {pos} needs {end - data.Length} more bytes.";
            if (type.SequenceEqual("IHDR"u8) && length == 13) header = data.AsSpan((int)pos + 8, 13);
            if (type.SequenceEqual("IDAT"u8)) idat.Add(((int)pos + 8, (int)length));
            if (type.SequenceEqual("IEND"u8)) return header.IsEmpty ? null : MissingRows(data, header, idat);
            pos = end;
        }
        return "truncated PNG: the data ends before the IEND chunk.";
    }

    /// <summary>Inflates the IDAT stream only as far as the rows the header declares need (nothing is kept) and says what is missing.</summary>
    static string? MissingRows(byte[] data, ReadOnlySpan<byte> header, List<(int Offset, int Length)> idat)
    {
        long width = BinaryPrimitives.ReadUInt32BigEndian(header), height = BinaryPrimitives.ReadUInt32BigEndian(header[4..]);
        int bitDepth = header[8], interlace = header[12];
        int channels = header[9] switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, 6 => 4, _ => 0 };
        if (channels == 0 || bitDepth is not (1 or 2 or 4 or 8 or 16)) return null; // the decoder reports these itself
        long bitsPerPixel = channels * bitDepth;
        long Scanlines(long w, long h) => w > 0 && h > 0 ? h * (1 + (w * bitsPerPixel + 7) / 8) : 0;
        long expected = interlace == 1
            ? Adam7.Sum(p => Scanlines((width - p.X + p.DX - 1) / p.DX, (height - p.Y + p.DY - 1) / p.DY))
            : Scanlines(width, height);
        var compressed = new MemoryStream();
        foreach (var (offset, length) in idat) compressed.Write(data, offset, length);
        compressed.Position = 0;
        long inflated = 0;
        try
        {
            using var zlib = new System.IO.Compression.ZLibStream(compressed, System.IO.Compression.CompressionMode.Decompress);
            var buffer = new byte[1 << 16];
            int n;
            // Stops at the declared size: trailing data and the final checksum are left to the decoder, as Pillow leaves them.
            while (inflated < expected && (n = zlib.Read(buffer, 0, (int)Math.Min(buffer.Length, expected - inflated))) > 0) inflated += n;
        }
        catch (InvalidDataException e)
        {
            return $"corrupt PNG image data after {inflated} of {expected} bytes: {e.Message}";
        }
        return inflated >= expected ? null
            : $"truncated PNG: the image data holds {inflated} of the {expected} bytes its {width}x{height} header declares (missing rows would come out blank).";
    }

    static readonly (int X, int Y, int DX, int DY)[] Adam7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];

    /// <summary>Returns why a JPEG is incomplete, or <see langword="null"/>: the marker sequence must reach EOI (bytes after it are ignored).</summary>
    public static string? Jpeg(ReadOnlySpan<byte> data)
    {
        int pos = 2; // SOI, already recognised
        while (true)
        {
            // Stray bytes before a marker are skipped, as libjpeg and Pillow's header parser do (with a warning).
            while (pos < data.Length && data[pos] != 0xFF) pos++;
            while (pos < data.Length && data[pos] == 0xFF) pos++; // fill bytes
            if (pos >= data.Length) return "truncated JPEG: the data ends before the end-of-image marker.";
            byte marker = data[pos++];
            if (marker == 0xD9) return null; // EOI
            if (marker is 0x01 or >= 0xD0 and <= 0xD8) continue; // markers without a length
            if (pos + 2 > data.Length) return "truncated JPEG: the data ends inside a marker segment.";
            pos += BinaryPrimitives.ReadUInt16BigEndian(data[pos..]);
            if (marker != 0xDA) continue;
            // After a scan header comes entropy-coded data; it ends at the first 0xFF not followed by 0x00 (byte stuffing) or a restart marker.
            while (true)
            {
                int ff = pos < data.Length ? data[pos..].IndexOf((byte)0xFF) : -1; // vectorised: photos hold megabytes of scan data
                if (ff < 0 || pos + ff + 1 >= data.Length) return "truncated JPEG: the data ends inside the compressed image data.";
                pos += ff;
                byte next = data[pos + 1];
                if (next != 0x00 && next is < 0xD0 or > 0xD7) break;
                pos += 2;
            }
        }
    }
}
