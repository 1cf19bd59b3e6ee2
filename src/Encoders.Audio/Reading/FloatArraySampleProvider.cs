using NAudio.Wave;

namespace LlavaModal.Encoders.Audio.Reading;

/// <summary>Feeds a mono float buffer to NAudio sample-provider chains.</summary>
sealed class FloatArraySampleProvider(float[] samples, int count, int sampleRate) : ISampleProvider
{
    int position;

    public WaveFormat WaveFormat { get; } = WaveFormat.CreateIeeeFloatWaveFormat(sampleRate, 1);

    public int Read(Span<float> buffer)
    {
        int n = Math.Min(buffer.Length, count - position);
        samples.AsSpan(position, n).CopyTo(buffer);
        position += n;
        return n;
    }
}
