namespace LlavaModal.Encoders.Audio.Reading;

/// <summary>Picks the decoder from the leading bytes; the media type only decides when the bytes are not recognised,
/// because callers often pass a generic or wrong type (<c>application/octet-stream</c>, <c>audio/wav</c> for an MP3).</summary>
static class AudioContainerDetector
{
    /// <summary>Human-readable list used in error messages.</summary>
    public const string Supported = "WAV (PCM 8/16/24/32-bit, IEEE float 32/64-bit) and MP3";

    public static AudioContainer Detect(ReadOnlySpan<byte> head, string? mediaType)
    {
        if (head.Length >= 12 && (head[..4].SequenceEqual("RIFF"u8) || head[..4].SequenceEqual("RF64"u8)) && head[8..12].SequenceEqual("WAVE"u8))
            return AudioContainer.Wav;
        if (head.Length >= 3 && head[..3].SequenceEqual("ID3"u8))
            return AudioContainer.Mp3;
        if (head.Length >= 2 && IsMpegAudioSync(head[0], head[1]))
            return AudioContainer.Mp3;
        return FromMediaType(mediaType);
    }

    /// <summary>An MPEG audio frame header: 11 sync bits, a valid version and a layer (layer bits 00 are ADTS/AAC, not MPEG audio).</summary>
    static bool IsMpegAudioSync(byte b0, byte b1) =>
        b0 == 0xFF && (b1 & 0xE0) == 0xE0 && ((b1 >> 3) & 0x3) != 0x1 && ((b1 >> 1) & 0x3) != 0x0;

    static AudioContainer FromMediaType(string? mediaType)
    {
        if (string.IsNullOrWhiteSpace(mediaType)) return AudioContainer.Unknown;
        var type = mediaType.Split(';')[0].Trim().ToLowerInvariant();
        return type switch
        {
            "audio/wav" or "audio/x-wav" or "audio/wave" or "audio/vnd.wave" => AudioContainer.Wav,
            "audio/mpeg" or "audio/mp3" or "audio/mpeg3" or "audio/x-mp3" or "audio/x-mpeg" => AudioContainer.Mp3,
            _ => AudioContainer.Unknown,
        };
    }
}
