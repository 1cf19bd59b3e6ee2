using System.Buffers.Binary;

namespace LlavaModal.Encoders.Vision.Preprocessing;

/// <summary>
/// Structural end-of-data checks for PNG and JPEG. Written by hand because ImageSharp 2.1 (PNG) and Skia (JPEG)
/// decode a truncated file without error (missing rows come out blank or grey), whereas the reference (Pillow)
/// refuses it as "image file is truncated"; a half-received upload must not silently reach the model.
/// </summary>
static class TruncationCheck
{
    /// <summary>Returns why a PNG is incomplete, or <see langword="null"/>: every chunk must be whole and the last must be IEND.</summary>
    public static string? Png(ReadOnlySpan<byte> data)
    {
        long pos = 8; // signature, already recognised by ImageSharp
        while (pos + 8 <= data.Length)
        {
            long length = BinaryPrimitives.ReadUInt32BigEndian(data[(int)pos..]);
            var type = data.Slice((int)pos + 4, 4);
            long end = pos + 12 + length; // length, type, data, CRC
            if (end > data.Length)
                return $"truncated PNG: the {System.Text.Encoding.ASCII.GetString(type)} chunk at byte {pos} needs {end - data.Length} more bytes.";
            if (type.SequenceEqual("IEND"u8)) return null;
            pos = end;
        }
        return "truncated PNG: the data ends before the IEND chunk.";
    }

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
