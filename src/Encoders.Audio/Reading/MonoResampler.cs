using NAudio.Wave.SampleProviders;

namespace LlavaModal.Encoders.Audio.Reading;

/// <summary>Sample-rate conversion with NAudio's managed WDL resampler (the Media Foundation and ACM resamplers are Windows-only).</summary>
static class MonoResampler
{
    const int BlockSize = 16_384;

    /// <summary>
    /// Returns <paramref name="count"/> samples at <paramref name="toRate"/>: exactly <c>round(count * toRate / fromRate)</c>
    /// of them, so the length depends only on the duration (the resampler's filter tail is trimmed or zero-filled).
    /// Same rate: the samples are returned untouched.
    /// </summary>
    public static float[] Resample(float[] samples, int count, int fromRate, int toRate)
    {
        if (fromRate == toRate)
            return count == samples.Length ? samples : samples.AsSpan(0, count).ToArray();
        long expected = (long)Math.Round(count * (double)toRate / fromRate);
        var output = new float[expected];
        var resampler = new WdlResamplingSampleProvider(new FloatArraySampleProvider(samples, count, fromRate), toRate);
        var block = new float[BlockSize];
        long written = 0;
        int n;
        while (written < expected && (n = resampler.Read(block)) > 0)
        {
            int take = (int)Math.Min(n, expected - written);
            Array.Copy(block, 0, output, written, take);
            written += take;
        }
        return output;
    }
}
