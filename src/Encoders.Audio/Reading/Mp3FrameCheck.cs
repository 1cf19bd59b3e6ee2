namespace LlavaModal.Encoders.Audio.Reading;

/// <summary>
/// Checks that a stream is really MPEG audio before NLayer decodes it: NLayer resynchronises on any 11-bit sync pattern,
/// so random bytes named <c>.mp3</c> decode to noise and get answered. Real streams have, after their ID3v2 tags, a
/// frame header followed by more headers exactly where each frame's length says; random data almost never does
/// (about 1 in 4 million per candidate for three in a row).
/// </summary>
static class Mp3FrameCheck
{
    /// <summary>Bytes searched for the first frame after the tags (encoders may leave padding or junk there).</summary>
    const int SearchBytes = 64 * 1024;
    /// <summary>Consecutive frames required (fewer only when the stream ends right after the last one).</summary>
    const int FramesRequired = 3;
    const int MaxFrameBytes = 2 * 1024;

    static readonly int[][] Bitrates =
    [
        [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448], // MPEG-1 layer I
        [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],    // MPEG-1 layer II
        [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],     // MPEG-1 layer III
        [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],    // MPEG-2/2.5 layer I
        [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],         // MPEG-2/2.5 layers II and III
    ];

    static readonly int[][] SampleRates = [[11025, 12000, 8000], [], [22050, 24000, 16000], [44100, 48000, 32000]];

    /// <summary>Why <paramref name="stream"/> (seekable, at its start; left where it was) is not MPEG audio, or null.</summary>
    public static string? Problem(Stream stream)
    {
        long start = stream.Position;
        try
        {
            long offset = SkipId3Tags(stream, start);
            stream.Position = offset;
            var window = new byte[SearchBytes + FramesRequired * MaxFrameBytes];
            int length = stream.ReadAtLeast(window, window.Length, throwOnEndOfStream: false);
            bool atEnd = length < window.Length;
            for (int pos = 0; pos + 4 <= Math.Min(length, SearchBytes + 4); pos++)
                if (ChainHolds(window.AsSpan(0, length), pos, atEnd)) return null;
            return "no MPEG audio frames found (the data is not MP3, or is corrupt)";
        }
        finally
        {
            stream.Position = start;
        }
    }

    /// <summary>ID3v2 tags (possibly several) at the start: 10-byte header, a syncsafe size, an optional footer.</summary>
    static long SkipId3Tags(Stream stream, long offset)
    {
        Span<byte> header = stackalloc byte[10];
        while (true)
        {
            stream.Position = offset;
            if (stream.ReadAtLeast(header, 10, throwOnEndOfStream: false) < 10 || !header[..3].SequenceEqual("ID3"u8)) return offset;
            long size = (header[6] & 0x7F) << 21 | (header[7] & 0x7F) << 14 | (header[8] & 0x7F) << 7 | (header[9] & 0x7F);
            offset += 10 + size + ((header[5] & 0x10) != 0 ? 10 : 0);
        }
    }

    static bool ChainHolds(ReadOnlySpan<byte> data, int pos, bool streamEndsHere)
    {
        for (int frame = 0; frame < FramesRequired; frame++)
        {
            if (frame > 0 && pos == data.Length && streamEndsHere) return true; // a clip of one or two frames
            if (pos + 4 > data.Length || FrameLength(data[pos..]) is not int length) return false;
            pos += length;
        }
        return true;
    }

    /// <summary>The frame's length in bytes when <paramref name="h"/> starts with a valid MPEG audio header (free-format bitrates excluded).</summary>
    static int? FrameLength(ReadOnlySpan<byte> h)
    {
        if (h[0] != 0xFF || (h[1] & 0xE0) != 0xE0) return null;
        int version = (h[1] >> 3) & 3, layer = (h[1] >> 1) & 3, bitrateIndex = h[2] >> 4, rateIndex = (h[2] >> 2) & 3, padding = (h[2] >> 1) & 1;
        if (version == 1 || layer == 0 || bitrateIndex is 0 or 15 || rateIndex == 3) return null;
        bool mpeg1 = version == 3;
        int table = mpeg1 ? 3 - layer : layer == 3 ? 3 : 4;
        int bitrate = Bitrates[table][bitrateIndex] * 1000, rate = SampleRates[version][rateIndex];
        return layer switch
        {
            3 => (12 * bitrate / rate + padding) * 4,
            2 => 144 * bitrate / rate + padding,
            _ => (mpeg1 ? 144 : 72) * bitrate / rate + padding,
        };
    }
}
