using LlavaModal.Core.Checkpoints;
using LlavaModal.Encoders.Audio.Features;
using LlavaModal.Encoders.Audio.Reading;
using LlavaModal.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Encoders.Audio;

/// <summary>Parity with the Hugging Face reference fixtures (README: whisper-features/).</summary>
public sealed class WhisperFeatureParityTests(ITestOutputHelper output)
{
    static string Dir => Path.Combine(Fixtures.Root, "whisper-features");
    static string Expected => Path.Combine(Dir, "expected", "features.safetensors");

    [Theory]
    [InlineData("chirp_noise_1p5s", 24000)]
    [InlineData("tone_440hz_0p3s", 4800)]
    public void Reader_reproduces_the_reference_waveform_exactly(string signal, int count)
    {
        var samples = new AudioReader().ReadFile(Path.Combine(Dir, signal + ".wav"));
        using var file = SafeTensorsFile.Open(Expected);
        var expected = Floats(file.ReadBytes(signal + ".waveform"));
        Assert.Equal(count, samples.Length);
        Assert.Equal(expected, samples);
    }

    [Theory]
    [InlineData("chirp_noise_1p5s")]
    [InlineData("tone_440hz_0p3s")]
    public void Features_match_the_reference(string signal)
    {
        var config = WhisperFeatureConfig.Load(Dir);
        var samples = new AudioReader().ReadFile(Path.Combine(Dir, signal + ".wav"));
        using var file = SafeTensorsFile.Open(Expected);
        using var expected = file.Read(signal + ".input_features");
        using var actual = new WhisperFeatureExtractor(config).Extract(samples);
        Assert.Equal(ScalarType.Float32, actual.dtype);
        Assert.Equal(new long[] { 1, 80, 3000 }, actual.shape);
        using var diff = (actual - expected).abs().max();
        double maxAbs = diff.item<float>();
        output.WriteLine($"{signal}: max |features - reference| = {maxAbs:E3}");
        Assert.True(maxAbs < 1e-4, $"{signal}: max abs error {maxAbs}");
    }

    [Fact]
    public void Mel_filters_match_the_reference()
    {
        var extractor = new WhisperFeatureExtractor();
        using var file = SafeTensorsFile.Open(Expected);
        Assert.Equal(new long[] { 201, 80 }, file.Tensors["mel_filters"].Shape);
        var expected = Doubles(file.ReadBytes("mel_filters"));
        var actual = extractor.MelFilters.ToArray();
        Assert.Equal(expected.Length, actual.Length);
        double maxAbs = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        output.WriteLine($"mel_filters: max abs error = {maxAbs:E3}");
        Assert.True(maxAbs < 1e-12, $"max abs error {maxAbs}");
    }

    [Fact]
    public void Config_is_read_from_preprocessor_config()
    {
        var config = WhisperFeatureConfig.Load(Path.Combine(Dir, "preprocessor_config.json"));
        Assert.Equal(WhisperFeatureConfig.Default, config);
        Assert.Equal(480000, config.NSamples);
        Assert.Equal(3000, config.NbMaxFrames);
    }

    static float[] Floats(byte[] bytes) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).ToArray();
    static double[] Doubles(byte[] bytes) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(bytes).ToArray();
}
