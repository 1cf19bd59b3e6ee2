namespace LlavaModal.Encoders.Audio.Features;

/// <summary>
/// The Slaney-style mel filter bank of the Hugging Face <c>audio_utils.mel_filter_bank</c> (<c>norm="slaney"</c>,
/// <c>mel_scale="slaney"</c>), computed here because no .NET library provides it; the arithmetic follows the
/// reference step by step (including <c>np.linspace</c>'s <c>start + i * step</c> with an exact endpoint) so it matches to ~1e-15.
/// </summary>
static class MelFilterBank
{
    const double MinLogHertz = 1000.0;
    const double MinLogMel = 15.0;
    static readonly double MelsPerLogHertz = 27.0 / Math.Log(6.4);
    static readonly double LogHertzPerMel = Math.Log(6.4) / 27.0;

    /// <summary>Row-major <c>[numFrequencyBins, numMelFilters]</c> (frequency bins x mel bins), like <c>mel_filters</c> in the reference.</summary>
    public static double[] Slaney(int numFrequencyBins, int numMelFilters, double minFrequency, double maxFrequency, int samplingRate)
    {
        var melFreqs = LinSpace(HertzToMel(minFrequency), HertzToMel(maxFrequency), numMelFilters + 2);
        var filterFreqs = melFreqs.Select(MelToHertz).ToArray();
        var fftFreqs = LinSpace(0, samplingRate / 2, numFrequencyBins); // sampling_rate // 2: integer division, as the reference
        var filterDiff = new double[filterFreqs.Length - 1];
        for (int i = 0; i < filterDiff.Length; i++) filterDiff[i] = filterFreqs[i + 1] - filterFreqs[i];

        var bank = new double[numFrequencyBins * numMelFilters];
        for (int m = 0; m < numMelFilters; m++)
        {
            // Area normalisation: each triangle scaled by 2 / its width in Hz.
            double enorm = 2.0 / (filterFreqs[m + 2] - filterFreqs[m]);
            for (int f = 0; f < numFrequencyBins; f++)
            {
                double down = -(filterFreqs[m] - fftFreqs[f]) / filterDiff[m];
                double up = (filterFreqs[m + 2] - fftFreqs[f]) / filterDiff[m + 1];
                bank[f * numMelFilters + m] = Math.Max(0.0, Math.Min(down, up)) * enorm;
            }
        }
        return bank;
    }

    /// <summary>Slaney mel scale: linear below 1 kHz, logarithmic above.</summary>
    internal static double HertzToMel(double hertz) =>
        hertz >= MinLogHertz ? MinLogMel + Math.Log(hertz / MinLogHertz) * MelsPerLogHertz : 3.0 * hertz / 200.0;

    internal static double MelToHertz(double mel) =>
        mel >= MinLogMel ? MinLogHertz * Math.Exp(LogHertzPerMel * (mel - MinLogMel)) : 200.0 * mel / 3.0;

    static double[] LinSpace(double start, double stop, int count)
    {
        var values = new double[count];
        double step = (stop - start) / (count - 1);
        for (int i = 0; i < count; i++) values[i] = i * step + start;
        values[^1] = stop;
        return values;
    }
}
