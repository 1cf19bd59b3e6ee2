using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Audio.Features;

/// <summary>
/// Whisper log-mel features, matching the Hugging Face <c>WhisperFeatureExtractor</c> (numpy path) to ~1e-5:
/// pad or truncate to <see cref="WhisperFeatureConfig.NSamples"/>; periodic Hann window; centred STFT
/// (reflect padding) in float64 via <c>torch.stft</c>; power spectrum; mel projection; <c>log10</c> floored at 1e-10;
/// cast to float32; clamp from below at the window's maximum minus 8; <c>(x + 4) / 4</c>.
/// Stateless and thread-safe; tensors are created on the CPU and owned by the caller.
/// </summary>
public sealed class WhisperFeatureExtractor
{
    // The reference fixes the filter bank's range to 0-8000 Hz whatever the sampling rate.
    const double MelMinFrequency = 0.0;
    const double MelMaxFrequency = 8000.0;
    const double MelFloor = 1e-10;

    readonly double[] melFilters;

    /// <summary>Creates the extractor for <paramref name="config"/> (default: the reference's 80-bin configuration).</summary>
    /// <exception cref="ConfigException">A configuration value is out of range.</exception>
    public WhisperFeatureExtractor(WhisperFeatureConfig? config = null)
    {
        Config = config ?? WhisperFeatureConfig.Default;
        Config.Validate();
        melFilters = MelFilterBank.Slaney(FrequencyBins, Config.FeatureSize, MelMinFrequency, MelMaxFrequency, Config.SamplingRate);
    }

    /// <summary>The configuration in use.</summary>
    public WhisperFeatureConfig Config { get; }

    int FrequencyBins => Config.NFft / 2 + 1;

    /// <summary>The mel filter bank, row-major <c>[n_fft / 2 + 1, feature_size]</c>.</summary>
    internal ReadOnlySpan<double> MelFilters => melFilters;

    /// <summary>Features of the first window of <paramref name="samples"/> (mono, at <see cref="WhisperFeatureConfig.SamplingRate"/>):
    /// shorter audio is padded, longer audio truncated, as the reference does.</summary>
    /// <returns>float32 <c>[1, feature_size, nb_max_frames]</c> (<c>[1, 80, 3000]</c> by default), on the CPU.</returns>
    public Tensor Extract(ReadOnlySpan<float> samples) => ExtractWindow(samples[..Math.Min(samples.Length, Config.NSamples)]);

    /// <summary>Features of every consecutive <see cref="WhisperFeatureConfig.ChunkLength"/>-second window of <paramref name="samples"/>,
    /// the last one padded; a clip of exactly N windows gives N, and an empty clip one (all padding).</summary>
    /// <returns>One float32 <c>[1, feature_size, nb_max_frames]</c> tensor per window, on the CPU.</returns>
    public IReadOnlyList<Tensor> ExtractWindows(ReadOnlySpan<float> samples)
    {
        int n = Config.NSamples;
        int count = Math.Max(1, (int)((samples.Length + (long)n - 1) / n));
        var windows = new List<Tensor>(count);
        try
        {
            for (int w = 0; w < count; w++)
            {
                int start = w * n;
                windows.Add(ExtractWindow(samples.Slice(start, Math.Min(n, samples.Length - start))));
            }
        }
        catch
        {
            foreach (var t in windows) t.Dispose();
            throw;
        }
        return windows;
    }

    Tensor ExtractWindow(ReadOnlySpan<float> window)
    {
        var padded = new float[Config.NSamples];
        window.CopyTo(padded);
        if (window.Length < padded.Length) padded.AsSpan(window.Length).Fill((float)Config.PaddingValue);

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var wave = tensor(padded, ScalarType.Float32).to(ScalarType.Float64);
        var hann = hann_window(Config.NFft, periodic: true, dtype: ScalarType.Float64);
        var stft = torch.stft(wave, Config.NFft, hop_length: Config.HopLength, win_length: Config.NFft, window: hann,
            center: true, pad_mode: PaddingModes.Reflect, normalized: false, onesided: true, return_complex: true);
        // [bins, frames + 1]: the reference drops the last centred frame.
        var power = stft.abs().square().narrow(1, 0, Config.NbMaxFrames);
        var filters = tensor(melFilters, [FrequencyBins, Config.FeatureSize], ScalarType.Float64);
        var logMel = filters.t().matmul(power).ClampMinScalar(MelFloor).log10().to(ScalarType.Float32);
        // Floor and scale in float32 after the cast, like the reference.
        var floor = logMel.max().AddScalar(-8.0);
        var features = maximum(logMel, floor).AddScalar(4.0).DivScalar(4.0);
        return features.unsqueeze(0).contiguous().MoveToOuterDisposeScope();
    }
}
