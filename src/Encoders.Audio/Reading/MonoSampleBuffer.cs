namespace LlavaModal.Encoders.Audio.Reading;

/// <summary>
/// Accumulates decoded interleaved frames as mono (channel average), growing geometrically from what was
/// actually decoded, never from a header's claim, and refusing to go past <c>maxFrames</c>.
/// </summary>
sealed class MonoSampleBuffer
{
    readonly string source;
    readonly long maxFrames;
    readonly TimeSpan maxDuration;
    float[] samples = new float[16_384];

    public MonoSampleBuffer(string source, int sampleRate, TimeSpan maxDuration)
    {
        this.source = source;
        this.maxDuration = maxDuration;
        maxFrames = (long)Math.Ceiling(maxDuration.TotalSeconds * sampleRate);
    }

    /// <summary>Mono frames so far.</summary>
    public int Count { get; private set; }

    /// <summary>The buffer; valid up to <see cref="Count"/>.</summary>
    public float[] Samples => samples;

    /// <summary>Appends whole frames of <paramref name="channels"/> interleaved samples.</summary>
    public void AppendInterleaved(ReadOnlySpan<float> interleaved, int channels)
    {
        int frames = interleaved.Length / channels;
        Reserve(frames);
        var dest = samples.AsSpan(Count, frames);
        if (channels == 1)
        {
            // Kept bit-exact (no arithmetic) so 16 kHz mono input reproduces int16/32768 exactly.
            interleaved[..frames].CopyTo(dest);
        }
        else
        {
            float scale = 1f / channels;
            for (int f = 0; f < frames; f++)
            {
                float sum = 0;
                var frame = interleaved.Slice(f * channels, channels);
                foreach (var s in frame) sum += s;
                dest[f] = sum * scale;
            }
        }
        Count += frames;
    }

    void Reserve(int frames)
    {
        long needed = (long)Count + frames;
        if (needed > maxFrames)
            throw new InvalidAudioException(source, $"audio is longer than the maximum of {maxDuration} (AudioReaderOptions.MaxDuration).");
        if (needed <= samples.Length) return;
        long grown = Math.Max(needed, Math.Min((long)samples.Length * 2, maxFrames));
        if (grown > Array.MaxLength)
            throw new InvalidAudioException(source, $"audio has more than {Array.MaxLength} samples, too many to hold in one buffer.");
        Array.Resize(ref samples, (int)grown);
    }
}
