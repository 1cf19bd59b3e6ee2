using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;

namespace LlavaModal.Encoders.Audio.Features;

/// <summary>
/// The settings of a Hugging Face <c>WhisperFeatureExtractor</c> (<c>preprocessor_config.json</c>).
/// Defaults are the reference's own (80 mel bins, 16 kHz, hop 160, n_fft 400, 30 s chunks).
/// </summary>
public sealed record WhisperFeatureConfig
{
    /// <summary>Number of mel bins (<c>feature_size</c>): 80, or 128 for large-v3.</summary>
    public int FeatureSize { get; init; } = 80;

    /// <summary>Expected input rate in Hz (<c>sampling_rate</c>).</summary>
    public int SamplingRate { get; init; } = 16_000;

    /// <summary>STFT hop in samples (<c>hop_length</c>).</summary>
    public int HopLength { get; init; } = 160;

    /// <summary>Window length in seconds (<c>chunk_length</c>).</summary>
    public int ChunkLength { get; init; } = 30;

    /// <summary>FFT size and Hann window length (<c>n_fft</c>).</summary>
    public int NFft { get; init; } = 400;

    /// <summary>Value used to pad short audio to <see cref="NSamples"/> (<c>padding_value</c>).</summary>
    public double PaddingValue { get; init; }

    /// <summary>Samples per window: <c>chunk_length * sampling_rate</c> (480000 by default).</summary>
    public int NSamples => ChunkLength * SamplingRate;

    /// <summary>Feature frames per window: <c>n_samples / hop_length</c> (3000 by default).</summary>
    public int NbMaxFrames => NSamples / HopLength;

    /// <summary>The reference defaults.</summary>
    public static WhisperFeatureConfig Default { get; } = new();

    /// <summary>Loads <c>preprocessor_config.json</c> from <paramref name="path"/> (the file, or a folder holding it).
    /// Missing keys take the reference defaults; <c>n_samples</c> and <c>nb_max_frames</c>, when present, must agree with the rest.</summary>
    /// <exception cref="ConfigException">Unreadable JSON, a wrongly typed or out-of-range value, or inconsistent sizes.</exception>
    public static WhisperFeatureConfig Load(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, "preprocessor_config.json");
        var json = JsonConfig.Load(path);
        if (json.OptionalString("feature_extractor_type") is { } type && type != "WhisperFeatureExtractor")
            throw json.Error("feature_extractor_type", $"'{type}' is not supported (expected WhisperFeatureExtractor).");
        var d = Default;
        var config = new WhisperFeatureConfig
        {
            FeatureSize = json.Int("feature_size", d.FeatureSize),
            SamplingRate = json.Int("sampling_rate", d.SamplingRate),
            HopLength = json.Int("hop_length", d.HopLength),
            ChunkLength = json.Int("chunk_length", d.ChunkLength),
            NFft = json.Int("n_fft", d.NFft),
            PaddingValue = json.Double("padding_value", d.PaddingValue),
        };
        config.Validate(path);
        if (json.Has("n_samples") && json.Long("n_samples") != config.NSamples)
            throw json.Error("n_samples", $"must equal chunk_length * sampling_rate = {config.NSamples}.");
        if (json.Has("nb_max_frames") && json.Long("nb_max_frames") != config.NbMaxFrames)
            throw json.Error("nb_max_frames", $"must equal n_samples / hop_length = {config.NbMaxFrames}.");
        return config;
    }

    /// <summary>Checks every value is in range; <paramref name="path"/> names the source in the error.</summary>
    /// <exception cref="ConfigException">A value is out of range.</exception>
    public void Validate(string path = "WhisperFeatureConfig")
    {
        static void Positive(string path, string key, int value, int max)
        {
            if (value < 1 || value > max) throw new ConfigException(path, key, $"{value} is out of range (1..{max}).");
        }
        Positive(path, "feature_size", FeatureSize, 1024);
        Positive(path, "sampling_rate", SamplingRate, 768_000);
        Positive(path, "n_fft", NFft, 1 << 16);
        Positive(path, "hop_length", HopLength, NFft);
        Positive(path, "chunk_length", ChunkLength, 3600);
        if ((long)ChunkLength * SamplingRate > 100_000_000)
            throw new ConfigException(path, "chunk_length", $"{ChunkLength} s at {SamplingRate} Hz is too many samples per window.");
        if (NSamples <= NFft / 2)
            throw new ConfigException(path, "chunk_length", $"a window of {NSamples} samples is too short for reflect padding of n_fft / 2 = {NFft / 2}.");
        if (!double.IsFinite(PaddingValue)) throw new ConfigException(path, "padding_value", "must be a finite number.");
    }
}
