using System.Buffers.Binary;

namespace LlavaModal.Encoders.Vision.Preprocessing;

/// <summary>
/// What a JPEG declares before its first scan: the frame (size, precision, components, SOF kind) and the EXIF
/// orientation. Read by hand so the pixel limit is checked before any decoder allocates, and so the orientation is
/// taken from the same place as Pillow's <c>exif_transpose</c> (the first APP1 segment that starts with <c>Exif\0\0</c>).
/// </summary>
readonly record struct JpegHeader(int Width, int Height, int Precision, int Components, byte FrameMarker, int Orientation)
{
    /// <summary>True when <paramref name="data"/> starts with the start-of-image marker (what ImageSharp would take for JPEG too).</summary>
    public static bool IsJpeg(ReadOnlySpan<byte> data) => data.Length >= 2 && data[0] == 0xFF && data[1] == 0xD8;

    /// <summary>Lossless frames (SOF3, SOF11): the libjpeg-turbo 2.1 that Pillow 9 bundles refuses them.</summary>
    public bool IsLossless => FrameMarker is 0xC3 or 0xCB;

    /// <summary>Reads the segments from SOI to the first SOS; returns why that fails, or <see langword="null"/>.</summary>
    public static string? TryRead(ReadOnlySpan<byte> data, out JpegHeader header)
    {
        header = default;
        bool haveFrame = false, haveExif = false;
        int width = 0, height = 0, precision = 0, components = 0, orientation = 1;
        byte frameMarker = 0;
        // Pillow identifies JPEG by FF D8 FF and refuses anything else.
        if (data.Length < 3 || data[2] != 0xFF) return "corrupt JPEG: no marker after the start-of-image marker.";
        int pos = 2; // after SOI
        while (true)
        {
            // libjpeg (and Pillow's header parser) skip stray bytes before a marker with a warning.
            while (pos < data.Length && data[pos] != 0xFF) pos++;
            while (pos < data.Length && data[pos] == 0xFF) pos++;
            if (pos >= data.Length) return "truncated JPEG: the data ends before the first scan.";
            byte marker = data[pos++];
            if (marker is 0x01 or >= 0xD0 and <= 0xD7) continue; // TEM, RSTn: no length
            if (marker == 0xD8) return "corrupt JPEG: a second start-of-image marker.";
            if (marker == 0xD9) return "corrupt JPEG: the image ends before its first scan.";
            if (pos + 2 > data.Length) return "truncated JPEG: the data ends inside a marker segment.";
            int length = BinaryPrimitives.ReadUInt16BigEndian(data[pos..]);
            if (length < 2) return $"corrupt JPEG: marker 0x{marker:X2} at byte {pos - 1} has length {length}.";
            if (pos + length > data.Length) return "truncated JPEG: the data ends inside a marker segment.";
            var payload = data.Slice(pos + 2, length - 2);
            pos += length;

            if (marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC) // SOFn (not DHT, JPG, DAC)
            {
                if (haveFrame) return "corrupt JPEG: two frame headers.";
                if (payload.Length < 6) return "corrupt JPEG: frame header too short.";
                precision = payload[0];
                height = BinaryPrimitives.ReadUInt16BigEndian(payload[1..]);
                width = BinaryPrimitives.ReadUInt16BigEndian(payload[3..]);
                components = payload[5];
                frameMarker = marker;
                haveFrame = true;
            }
            else if (marker == 0xE1 && !haveExif && payload.StartsWith("Exif\0\0"u8))
            {
                haveExif = true;
                orientation = ReadOrientation(payload[6..]);
            }
            else if (marker == 0xDA)
            {
                if (!haveFrame) return "corrupt JPEG: a scan before the frame header.";
                header = new JpegHeader(width, height, precision, components, frameMarker, orientation);
                return null;
            }
        }
    }

    /// <summary>
    /// The Orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block, 1 when absent or unreadable. Like Pillow,
    /// a value outside 1..8 or with a count other than 1 leaves the image as stored.
    /// </summary>
    internal static int ReadOrientation(ReadOnlySpan<byte> tiff)
    {
        if (tiff.Length < 8) return 1;
        bool little;
        if (tiff.StartsWith("II*\0"u8)) little = true;
        else if (tiff.StartsWith("MM\0*"u8)) little = false;
        else return 1;
        long ifd = U32(tiff[4..]);
        if (ifd + 2 > tiff.Length) return 1;
        int count = U16(tiff[(int)ifd..]);
        for (int i = 0; i < count; i++)
        {
            long entry = ifd + 2 + 12L * i;
            if (entry + 12 > tiff.Length) return 1;
            var e = tiff.Slice((int)entry, 12);
            if (U16(e) != 0x0112) continue;
            int type = U16(e[2..]);
            if (U32(e[4..]) != 1) return 1;
            long value = type switch
            {
                1 => e[8],          // BYTE
                3 => U16(e[8..]),   // SHORT, the type the EXIF standard gives this tag
                4 => U32(e[8..]),   // LONG
                _ => 1,
            };
            return value is >= 1 and <= 8 ? (int)value : 1;
        }
        return 1;

        int U16(ReadOnlySpan<byte> b) => little ? BinaryPrimitives.ReadUInt16LittleEndian(b) : BinaryPrimitives.ReadUInt16BigEndian(b);
        long U32(ReadOnlySpan<byte> b) => little ? BinaryPrimitives.ReadUInt32LittleEndian(b) : BinaryPrimitives.ReadUInt32BigEndian(b);
    }
}
