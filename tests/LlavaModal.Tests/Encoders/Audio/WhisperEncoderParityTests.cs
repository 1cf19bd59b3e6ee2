using LlavaModal.Core.Checkpoints;
using LlavaModal.Encoders.Audio.Features;
using LlavaModal.Encoders.Audio.Reading;
using LlavaModal.Encoders.Audio.Whisper;
using LlavaModal.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Encoders.Audio;

public sealed class WhisperEncoderTinyFixture : IDisposable
{
    public static string Dir => Path.Combine(Fixtures.Root, "whisper-encoder-tiny");

    public WhisperEncoderTinyFixture()
    {
        Encoder = WhisperEncoder.FromPretrained(Dir);
        Expected = SafeTensorsFile.Open(Path.Combine(Dir, "expected", "encoder.safetensors"));
    }

    public WhisperEncoder Encoder { get; }
    public SafeTensorsFile Expected { get; }

    public void Dispose()
    {
        Encoder.Dispose();
        Expected.Dispose();
    }
}

/// <summary>Parity with the reference fixtures (README: whisper-encoder-tiny/).</summary>
public class WhisperEncoderParityTests(WhisperEncoderTinyFixture fx, ITestOutputHelper output) : IClassFixture<WhisperEncoderTinyFixture>
{
    static readonly Dictionary<string, string> Wavs = new()
    {
        ["chirp"] = "chirp_noise_1p5s.wav",
        ["tone"] = "tone_440hz_0p3s.wav",
    };

    [Fact]
    public void Config_is_read_from_the_checkpoint()
    {
        var c = fx.Encoder.Config;
        Assert.Equal((64, 2, 4, 128, 80, 1500, "gelu", false), (c.DModel, c.EncoderLayers, c.EncoderAttentionHeads, c.EncoderFfnDim, c.NumMelBins, c.MaxSourcePositions, c.ActivationFunction, c.ScaleEmbedding));
        Assert.Equal(ScalarType.Float32, fx.Encoder.DType);
        Assert.Equal(1500, fx.Encoder.TokensPerWindow);
        Assert.Equal(64, fx.Encoder.OutputWidth);
    }

    [Theory]
    [InlineData("chirp")]
    [InlineData("tone")]
    public void Hidden_state_0_and_output_match_the_reference(string sig)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var states = new List<Tensor>();
        var result = fx.Encoder.Forward(fx.Expected.Read($"{sig}.input_features"), states);
        Assert.Equal(new long[] { 1, 1500, 64 }, result.shape);
        Assert.Equal(3, states.Count); // input of each of the 2 layers, then the output, as output_hidden_states
        var e0 = Parity.RelativeError(states[0], fx.Expected.Read($"{sig}.hidden_states.0"));
        var eOut = Parity.RelativeError(result, fx.Expected.Read($"{sig}.encoder_output"));
        output.WriteLine($"{sig}: hidden_states.0 relative error {e0:E3}, encoder_output {eOut:E3}");
        Assert.True(e0 <= 1e-4, $"{sig} hidden_states.0: {e0:E3}");
        Assert.True(eOut <= 1e-4, $"{sig} encoder_output: {eOut:E3}");
        Assert.True(states[^1].equal(result).all().item<bool>());
    }

    [Theory]
    [InlineData("chirp")]
    [InlineData("tone")]
    public void Wav_through_reader_extractor_and_encoder_matches_the_reference(string sig)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var featureDir = Path.Combine(Fixtures.Root, "whisper-features");
        var samples = new AudioReader().ReadFile(Path.Combine(featureDir, Wavs[sig]));
        var features = new WhisperFeatureExtractor(WhisperFeatureConfig.Load(WhisperEncoderTinyFixture.Dir)).Extract(samples);
        var result = fx.Encoder.Forward(features);
        var err = Parity.RelativeError(result, fx.Expected.Read($"{sig}.encoder_output"));
        output.WriteLine($"{sig}: end-to-end encoder_output relative error {err:E3}");
        Assert.True(err <= 1e-4, $"{sig} end to end: {err:E3}");
    }

    [Fact]
    public void Batched_windows_give_the_per_window_outputs()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var batch = cat([fx.Expected.Read("chirp.input_features"), fx.Expected.Read("tone.input_features")], 0);
        var result = fx.Encoder.Forward(batch);
        Parity.AssertClose(result[0].unsqueeze(0), fx.Expected.Read("chirp.encoder_output"), 1e-4, "batch row 0");
        Parity.AssertClose(result[1].unsqueeze(0), fx.Expected.Read("tone.encoder_output"), 1e-4, "batch row 1");
    }

    [Fact]
    public void Wrongly_shaped_features_are_refused_with_the_expected_shape()
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<ArgumentException>(() => fx.Encoder.Forward(zeros(1, 80, 1500)));
        Assert.Contains("[batch, 80, 3000]", e.Message);
        Assert.Contains("[1, 80, 1500]", e.Message);
    }

    [Fact]
    public void Average_pooling_halves_the_sequence_before_the_final_norm()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var pooled = WhisperEncoder.FromPretrained(WhisperEncoderTinyFixture.Dir, averagePool: true);
        Assert.Equal(750, pooled.TokensPerWindow);
        var features = fx.Expected.Read("chirp.input_features");
        var result = pooled.Forward(features);
        Assert.Equal(new long[] { 1, 750, 64 }, result.shape);
        // Qwen2-Audio order: mean of adjacent pairs of the last layer's output, then layer_norm.
        var last = fx.Encoder.RunLayers(features);
        var pairs = last.view(1, 750, 2, 64).mean([2]);
        var expected = fx.Encoder.FinalLayerNorm.forward(pairs);
        var err = Parity.RelativeError(result, expected);
        output.WriteLine($"pooled vs layer_norm(mean of adjacent pairs): relative error {err:E3}");
        Assert.True(err <= 1e-6, $"pooling: {err:E3}");
        // Without pooling the same weights give the unpooled reference.
        Parity.AssertClose(fx.Encoder.FinalLayerNorm.forward(last), fx.Expected.Read("chirp.encoder_output"), 1e-4, "unpooled");
    }
}
