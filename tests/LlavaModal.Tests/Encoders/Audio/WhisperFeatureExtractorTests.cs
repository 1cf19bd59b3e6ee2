using LlavaModal.Abstractions;
using LlavaModal.Encoders.Audio.Features;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Encoders.Audio;

public sealed class WhisperFeatureExtractorTests
{
    static readonly WhisperFeatureExtractor Extractor = new();
    const int Window = 480_000;

    static float[] Tone(int count)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++) x[i] = 0.3f * MathF.Sin(2 * MathF.PI * 440 * i / 16000f) + 0.1f * MathF.Sin(i * 0.37f);
        return x;
    }

    static void AssertEqual(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(expected.eq(actual).all().item<bool>());
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(16_000, 1)]
    [InlineData(Window, 1)]
    [InlineData(Window + 1, 2)]
    [InlineData(2 * Window, 2)]
    [InlineData(2 * Window + 160, 3)]
    public void Windows_cover_the_clip_in_30_second_steps(int samples, int windows)
    {
        var result = Extractor.ExtractWindows(Tone(samples));
        try
        {
            Assert.Equal(windows, result.Count);
            Assert.All(result, w => Assert.Equal(new long[] { 1, 80, 3000 }, w.shape));
        }
        finally
        {
            foreach (var w in result) w.Dispose();
        }
    }

    [Fact]
    public void Each_window_is_the_features_of_its_own_slice_and_Extract_truncates_to_the_first()
    {
        var clip = Tone(Window + 40_000);
        var windows = Extractor.ExtractWindows(clip);
        try
        {
            using var first = Extractor.Extract(clip);
            using var firstAlone = Extractor.Extract(clip.AsSpan(0, Window));
            using var tail = Extractor.Extract(clip.AsSpan(Window));
            AssertEqual(firstAlone, first);
            AssertEqual(first, windows[0]);
            AssertEqual(tail, windows[1]);
        }
        finally
        {
            foreach (var w in windows) w.Dispose();
        }
    }

    [Fact]
    public void Features_are_floored_eight_log10_units_below_the_maximum()
    {
        using var features = Extractor.Extract(Tone(8000));
        double max = features.max().item<float>(), min = features.min().item<float>();
        // (x + 4) / 4 maps the 8-unit log10 range to 2.
        Assert.Equal(2.0, max - min, 1e-5);
        Assert.False(features.isnan().any().item<bool>());
    }

    [Fact]
    public void A_128_bin_configuration_gives_128_mel_rows()
    {
        var extractor = new WhisperFeatureExtractor(new WhisperFeatureConfig { FeatureSize = 128 });
        using var features = extractor.Extract(Tone(16_000));
        Assert.Equal(new long[] { 1, 128, 3000 }, features.shape);
        Assert.Equal(201 * 128, extractor.MelFilters.Length);
    }

    [Fact]
    public void Padding_value_is_used_for_short_audio()
    {
        var padded = new WhisperFeatureExtractor(new WhisperFeatureConfig { PaddingValue = 0.25 });
        var clip = Tone(16_000);
        using var a = padded.Extract(clip);
        using var b = Extractor.Extract(clip);
        Assert.False(a.eq(b).all().item<bool>());
    }

    [Theory]
    [InlineData("{\"feature_size\": \"80\"}", "feature_size")]
    [InlineData("{\"hop_length\": 0}", "hop_length")]
    [InlineData("{\"n_samples\": 160000}", "n_samples")]
    [InlineData("{\"nb_max_frames\": 1500}", "nb_max_frames")]
    [InlineData("{\"feature_extractor_type\": \"ClapFeatureExtractor\"}", "feature_extractor_type")]
    [InlineData("{\"feature_size\": 80", "(file)")]
    public void Bad_config_values_name_the_key(string json, string key)
    {
        using var dir = new TempDir();
        var path = dir.File("preprocessor_config.json");
        File.WriteAllText(path, json);
        var ex = Assert.Throws<ConfigException>(() => WhisperFeatureConfig.Load(dir.Path));
        Assert.Equal(key, ex.Key);
        Assert.Equal(path, ex.Path);
    }

    [Fact]
    public void Config_accepts_a_128_bin_file_with_float_integers()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("preprocessor_config.json"), "{\"feature_size\": 128, \"sampling_rate\": 16000.0, \"n_samples\": 480000}");
        var config = WhisperFeatureConfig.Load(dir.File("preprocessor_config.json"));
        Assert.Equal(128, config.FeatureSize);
        Assert.Equal(16000, config.SamplingRate);
    }
}
