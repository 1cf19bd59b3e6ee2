using NLayer;

namespace LlavaModal.Encoders.Audio.Reading;

/// <summary>Decodes MP3 (MPEG-1/2/2.5 layers I-III) with NLayer, a fully managed decoder, so no
/// platform codec (Media Foundation, ACM) is needed.</summary>
static class Mp3Decoder
{
    const int SamplesPerRead = 1152 * 2 * 8;
    const double MaxBitsPerSecond = 320_000; // highest MPEG-1 layer III bitrate (free format aside)
    const long TagAllowanceBytes = 16L << 20; // ID3 tags with cover art

    /// <summary>
    /// NLayer indexes every frame of a seekable stream up front (time and memory in proportion to the file), so a file
    /// too large to fit in <paramref name="maxDuration"/> even at the highest bitrate is refused before decoding.
    /// </summary>
    static void GuardSize(Stream stream, string source, TimeSpan maxDuration)
    {
        long limit = (long)(maxDuration.TotalSeconds * MaxBitsPerSecond / 8) + TagAllowanceBytes;
        if (stream.CanSeek && stream.Length - stream.Position > limit)
            throw new InvalidAudioException(source,
                $"MP3 of {stream.Length - stream.Position} bytes is longer than the maximum of {maxDuration} (AudioReaderOptions.MaxDuration) at any MP3 bitrate.");
    }

    public static DecodedAudio Decode(Stream stream, string source, TimeSpan maxDuration)
    {
        GuardSize(stream, source, maxDuration);
        if (Mp3FrameCheck.Problem(stream) is { } problem) throw new InvalidAudioException(source, $"not a readable MP3: {problem}.");
        try
        {
            using var mpeg = new MpegFile(stream);
            int rate = mpeg.SampleRate, channels = mpeg.Channels;
            if (rate <= 0 || channels is < 1 or > 2)
                throw new InvalidAudioException(source, "no valid MPEG audio frame found; the MP3 is corrupt or empty.");
            var output = new MonoSampleBuffer(source, rate, maxDuration);
            var buffer = new float[SamplesPerRead];
            int pending = 0; // samples of an incomplete frame carried to the next read
            int n;
            while ((n = mpeg.ReadSamples(buffer, pending, buffer.Length - pending)) > 0)
            {
                int available = pending + n;
                int whole = available / channels * channels;
                output.AppendInterleaved(buffer.AsSpan(0, whole), channels);
                pending = available - whole;
                buffer.AsSpan(whole, pending).CopyTo(buffer);
            }
            if (output.Count == 0)
                throw new InvalidAudioException(source, "the MP3 contains no decodable audio frames.");
            return new DecodedAudio(output.Samples, output.Count, rate);
        }
        catch (Exception ex) when (ex is not InvalidAudioException and not OutOfMemoryException)
        {
            throw new InvalidAudioException(source, $"cannot decode MP3 ({ex.GetType().Name}: {ex.Message}); it may be truncated or corrupt.", ex);
        }
    }
}
