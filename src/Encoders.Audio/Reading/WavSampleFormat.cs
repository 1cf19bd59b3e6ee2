using System.Buffers.Binary;
using NAudio.Wave;

namespace LlavaModal.Encoders.Audio.Reading;

/// <summary>The sample encodings the WAV path decodes, validated against the <c>fmt </c> chunk so absurd or
/// inconsistent headers fail here, before any data is read.</summary>
sealed record WavSampleFormat(bool IsFloat, int BitsPerSample, int Channels, int SampleRate)
{
    public const int MaxChannels = 64;
    public const int MaxSampleRate = 768_000;

    /// <summary>Bytes per interleaved frame.</summary>
    public int BlockAlign => Channels * BitsPerSample / 8;

    public static WavSampleFormat From(WaveFormat format, string source)
    {
        int tag = (int)format.Encoding;
        if (format.Encoding == WaveFormatEncoding.Extensible)
        {
            // WAVE_FORMAT_EXTENSIBLE: the real format code is the first two bytes of the SubFormat GUID,
            // which sits 6 bytes into the extra data (after wValidBitsPerSample and dwChannelMask).
            if (format is not WaveFormatExtraData extra || format.ExtraSize < 22)
                throw new InvalidAudioException(source, "WAVE_FORMAT_EXTENSIBLE header is too short to hold its SubFormat.");
            tag = BinaryPrimitives.ReadUInt16LittleEndian(extra.ExtraData.AsSpan(6, 2));
        }

        bool isFloat = tag switch
        {
            (int)WaveFormatEncoding.Pcm => false,
            (int)WaveFormatEncoding.IeeeFloat => true,
            _ => throw new InvalidAudioException(source,
                $"unsupported WAV encoding {(WaveFormatEncoding)tag} (format tag 0x{tag:X4}); supported: {AudioContainerDetector.Supported}."),
        };
        int bits = format.BitsPerSample;
        bool bitsOk = isFloat ? bits is 32 or 64 : bits is 8 or 16 or 24 or 32;
        if (!bitsOk)
            throw new InvalidAudioException(source, $"unsupported {(isFloat ? "IEEE float" : "PCM")} bit depth {bits}; supported: {AudioContainerDetector.Supported}.");
        if (format.Channels < 1 || format.Channels > MaxChannels)
            throw new InvalidAudioException(source, $"invalid channel count {format.Channels} (expected 1..{MaxChannels}).");
        if (format.SampleRate < 1 || format.SampleRate > MaxSampleRate)
            throw new InvalidAudioException(source, $"invalid sample rate {format.SampleRate} Hz (expected 1..{MaxSampleRate}).");
        var result = new WavSampleFormat(isFloat, bits, format.Channels, format.SampleRate);
        if (format.BlockAlign != result.BlockAlign)
            throw new InvalidAudioException(source,
                $"inconsistent header: block align {format.BlockAlign} but {format.Channels} channels x {bits} bits needs {result.BlockAlign}.");
        return result;
    }

    /// <summary>Converts whole frames of raw little-endian data to interleaved floats in [-1, 1).</summary>
    public void Decode(ReadOnlySpan<byte> raw, Span<float> dest)
    {
        int count = raw.Length / (BitsPerSample / 8);
        switch (BitsPerSample, IsFloat)
        {
            case (8, false): // 8-bit WAV is unsigned, centred on 128
                for (int i = 0; i < count; i++) dest[i] = (raw[i] - 128) / 128f;
                break;
            case (16, false):
                for (int i = 0; i < count; i++) dest[i] = BinaryPrimitives.ReadInt16LittleEndian(raw[(2 * i)..]) / 32768f;
                break;
            case (24, false):
                for (int i = 0; i < count; i++)
                {
                    int v = raw[3 * i] | raw[3 * i + 1] << 8 | (sbyte)raw[3 * i + 2] << 16;
                    dest[i] = v / 8388608f;
                }
                break;
            case (32, false):
                for (int i = 0; i < count; i++) dest[i] = (float)(BinaryPrimitives.ReadInt32LittleEndian(raw[(4 * i)..]) / 2147483648.0);
                break;
            case (32, true):
                for (int i = 0; i < count; i++) dest[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(4 * i)..]);
                break;
            case (64, true):
                for (int i = 0; i < count; i++) dest[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(raw[(8 * i)..]);
                break;
            default:
                throw new InvalidOperationException($"unvalidated format {this}");
        }
    }
}
