using System.Buffers.Binary;
using NAudio.Wave;

namespace LlavaModal.Encoders.Audio.Reading;

/// <summary>
/// Decodes WAV with NAudio's <see cref="WaveFileReader"/> (managed, cross-platform) for the RIFF parsing.
/// The data chunk's declared length is never used to size anything: frames are read in fixed blocks into a
/// buffer that grows with what was actually read, up to the configured duration.
/// </summary>
static class WavDecoder
{
    const int FramesPerBlock = 8192;
    // Written by streaming encoders that cannot seek back, and by RF64 (whose real size is in ds64).
    const uint UnknownLength = uint.MaxValue;

    public static DecodedAudio Decode(Stream stream, string source, TimeSpan maxDuration)
    {
        GuardRf64(stream, source);
        WaveFileReader reader;
        uint declared;
        try
        {
            reader = new WaveFileReader(stream);
            declared = DeclaredDataLength(stream);
        }
        catch (Exception ex) when (ex is not InvalidAudioException)
        {
            throw new InvalidAudioException(source, $"not a readable WAV file ({ex.Message}); it may be truncated or corrupt.", ex);
        }
        using (reader)
        {
            var format = WavSampleFormat.From(reader.WaveFormat, source);
            return ReadFrames(reader, format, declared, source, maxDuration);
        }
    }

    /// <summary>
    /// The data chunk's own size field. NAudio clamps <see cref="WaveFileReader.Length"/> to what the stream holds,
    /// which hides truncation; the reader leaves the stream at the start of the data, right after that field.
    /// </summary>
    static uint DeclaredDataLength(Stream stream)
    {
        long dataStart = stream.Position;
        Span<byte> field = stackalloc byte[4];
        stream.Position = dataStart - 4;
        stream.ReadExactly(field);
        stream.Position = dataStart;
        return BinaryPrimitives.ReadUInt32LittleEndian(field);
    }

    static DecodedAudio ReadFrames(WaveFileReader reader, WavSampleFormat format, uint declared, string source, TimeSpan maxDuration)
    {
        int blockAlign = format.BlockAlign;
        var raw = new byte[FramesPerBlock * blockAlign];
        var floats = new float[FramesPerBlock * format.Channels];
        var output = new MonoSampleBuffer(source, format.SampleRate, maxDuration);
        long total = 0;
        while (true)
        {
            int n;
            try
            {
                n = reader.Read(raw, 0, raw.Length);
            }
            catch (Exception ex) when (ex is IOException or ArgumentException)
            {
                throw new InvalidAudioException(source, $"error reading WAV data: {ex.Message}", ex);
            }
            if (n <= 0) break;
            total += n;
            int whole = n / blockAlign * blockAlign;
            int samples = whole / (format.BitsPerSample / 8);
            format.Decode(raw.AsSpan(0, whole), floats);
            if (format.IsFloat && !AllFinite(floats.AsSpan(0, samples)))
                throw new InvalidAudioException(source, "float WAV data contains NaN or infinite samples (corrupt data).");
            output.AppendInterleaved(floats.AsSpan(0, samples), format.Channels);
            if (n < raw.Length) break; // short read: end of data chunk or of stream
        }
        if (total < declared && declared != UnknownLength)
            throw new InvalidAudioException(source, $"truncated WAV: the data chunk declares {declared} bytes but only {total} are present.");
        if (output.Count == 0)
            throw new InvalidAudioException(source, "the WAV file contains no audio samples.");
        return new DecodedAudio(output.Samples, output.Count, format.SampleRate);
    }

    static bool AllFinite(ReadOnlySpan<float> values)
    {
        foreach (var v in values)
            if (!float.IsFinite(v)) return false;
        return true;
    }

    /// <summary>
    /// NAudio skips an RF64 file's <c>ds64</c> chunk with <c>ReadBytes(size - 24)</c>, allocating whatever the header claims;
    /// refuse implausible sizes before handing the stream over.
    /// </summary>
    static void GuardRf64(Stream stream, string source)
    {
        Span<byte> head = stackalloc byte[20];
        long start = stream.Position;
        int n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        stream.Position = start;
        if (n < 20 || !head[..4].SequenceEqual("RF64"u8)) return;
        uint size = BinaryPrimitives.ReadUInt32LittleEndian(head[16..]);
        if (!head[12..16].SequenceEqual("ds64"u8) || size < 24 || size > 4096)
            throw new InvalidAudioException(source, $"corrupt RF64 WAV: missing or implausible ds64 chunk (size {size}).");
    }
}
