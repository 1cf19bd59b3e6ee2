using System.Buffers.Binary;

namespace LlavaModal.Encoders.Vision.Video;

/// <summary>
/// Whether an MP4/MOV (ISO base media) file keeps its index (<c>moov</c>) after its media data (<c>mdat</c>): ffmpeg
/// cannot read such a file from a pipe (it would have to seek back), so it is given as a private temporary file instead.
/// </summary>
static class IsoMediaLayout
{
    /// <summary>True when the top-level boxes put <c>mdat</c> before <c>moov</c> (or no <c>moov</c> is found); false for other formats and "fast start" files.</summary>
    public static bool NeedsSeeking(ReadOnlySpan<byte> data)
    {
        if (data.Length < 8 || !data[4..8].SequenceEqual("ftyp"u8)) return false;
        long at = 0;
        while (at + 8 <= data.Length)
        {
            long size = BinaryPrimitives.ReadUInt32BigEndian(data[(int)at..]);
            var type = data.Slice((int)at + 4, 4);
            if (size == 1)
            {
                if (at + 16 > data.Length) return true;
                size = (long)BinaryPrimitives.ReadUInt64BigEndian(data[((int)at + 8)..]);
            }
            else if (size == 0) size = data.Length - at; // the last box runs to the end
            if (type.SequenceEqual("moov"u8)) return false;
            if (type.SequenceEqual("mdat"u8) || size < 8) return true;
            at += size;
        }
        return true;
    }
}
