using LlavaModal.Encoders.Audio.Reading;
using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.Encoders.Audio;

public sealed class AudioReaderFormatTests
{
    static readonly AudioReader Reader = new();

    [Theory]
    [InlineData(8000)]
    [InlineData(22050)]
    [InlineData(44100)]
    [InlineData(48000)]
    public void Other_rates_are_resampled_to_16kHz_keeping_duration_and_pitch(int rate)
    {
        const double seconds = 1.0, frequency = 440;
        var samples = Reader.Read(TestWav.Wav(TestWav.Sine(rate, seconds, frequency), 1, rate));

        Assert.InRange(samples.Length, 16000 * 0.99, 16000 * 1.01);
        // A sine crosses zero twice per period.
        Assert.InRange(TestWav.ZeroCrossings(samples), 2 * frequency * seconds * 0.98, 2 * frequency * seconds * 1.02);
        // Away from the edges the amplitude survives the resampler's low-pass.
        Assert.InRange(samples.AsSpan(1000, 14000).ToArray().Max(), 0.45, 0.55);
    }

    [Fact]
    public void Stereo_is_averaged_to_mono()
    {
        var left = TestWav.Sine(16000, 0.5, 440, 0.5);
        var right = TestWav.Sine(16000, 0.5, 1000, 0.25);
        var samples = Reader.Read(TestWav.Wav(TestWav.Interleave(left, right), 2, 16000));

        Assert.Equal(left.Length, samples.Length);
        for (int i = 0; i < samples.Length; i++)
            Assert.Equal((left[i] + right[i]) / 2, samples[i], 1.0 / 32768);
    }

    [Fact]
    public void Stereo_at_another_rate_comes_back_mono_at_16kHz()
    {
        var tone = TestWav.Sine(44100, 1.0, 440);
        var samples = Reader.Read(TestWav.Wav(TestWav.Interleave(tone, tone), 2, 44100));
        Assert.InRange(samples.Length, 15840, 16160);
        Assert.InRange(TestWav.ZeroCrossings(samples), 862, 898);
    }

    [Theory]
    [InlineData(8, false, false)]
    [InlineData(16, false, false)]
    [InlineData(24, false, false)]
    [InlineData(32, false, false)]
    [InlineData(32, true, false)]
    [InlineData(64, true, false)]
    [InlineData(16, false, true)]
    [InlineData(24, false, true)]
    [InlineData(32, true, true)]
    public void Every_sample_encoding_decodes_the_same_signal_within_quantisation(int bits, bool isFloat, bool extensible)
    {
        var signal = TestWav.Sine(16000, 0.25, 440, 0.7);
        var samples = Reader.Read(TestWav.Wav(signal, 1, 16000, bits, isFloat, extensible));
        // Half a step of rounding, plus float32's own resolution.
        double tolerance = isFloat ? 1e-7 : Math.Pow(2, -(bits - 1)) / 2 + 1e-7;
        Assert.Equal(signal.Length, samples.Length);
        for (int i = 0; i < signal.Length; i++)
            Assert.Equal(signal[i], samples[i], tolerance);
    }

    [Fact]
    public void Bytes_streams_and_files_give_the_same_samples()
    {
        var wav = TestWav.Wav(TestWav.Sine(16000, 0.1, 440), 1, 16000);
        using var dir = new TempDir();
        var path = dir.File("tone.wav");
        File.WriteAllBytes(path, wav);

        var fromBytes = Reader.Read(wav, "audio/wav");
        Assert.Equal(fromBytes, Reader.ReadFile(path));
        using var seekable = new MemoryStream(wav);
        Assert.Equal(fromBytes, Reader.Read(seekable));
        Assert.True(seekable.CanRead, "the caller's stream must not be disposed");
        using var nonSeekable = new NonSeekableStream(new MemoryStream(wav));
        Assert.Equal(fromBytes, Reader.Read(nonSeekable));
        // Content wins over a wrong or generic media type.
        Assert.Equal(fromBytes, Reader.Read(wav, "application/octet-stream"));
        Assert.Equal(fromBytes, Reader.Read(wav, "audio/mpeg"));
    }

    [Fact]
    public void Odd_length_chunks_before_the_data_are_skipped()
    {
        var signal = TestWav.Sine(16000, 0.1, 440);
        var wav = TestWav.Riff(
            ("fmt ", TestWav.Fmt(TestWav.Pcm, 1, 16000, 16), null),
            ("LIST", [0x49, 0x4E, 0x46, 0xFF, 0xFE], null), // odd length, binary content, padded
            ("data", TestWav.Encode(signal, 16, false), null));
        Assert.Equal(signal.Length, Reader.Read(wav).Length);
    }

    [Fact]
    public void Streaming_placeholder_data_length_reads_to_the_end()
    {
        var signal = TestWav.Sine(16000, 0.1, 440);
        var wav = TestWav.Riff(uint.MaxValue,
            ("fmt ", TestWav.Fmt(TestWav.Pcm, 1, 16000, 16), null),
            ("data", TestWav.Encode(signal, 16, false), uint.MaxValue));
        Assert.Equal(signal.Length, Reader.Read(wav).Length);
    }

    [Fact]
    public void Mp3_is_decoded_and_resampled()
    {
        // 40 silent MPEG-1 layer III frames (44.1 kHz, 128 kbit/s, mono) behind an ID3v2 tag: 40 x 1152 samples.
        var mp3 = TestMp3.SilentFrames(40, withId3: true);
        var samples = Reader.Read(mp3, sourceName: "silence.mp3");
        double expected = 40 * 1152 * 16000.0 / 44100;
        Assert.InRange(samples.Length, expected * 0.97, expected * 1.01);
        Assert.All(samples, s => Assert.True(Math.Abs(s) < 1e-6));
        // Raw frames without a tag are recognised from the frame sync.
        Assert.InRange(Reader.Read(TestMp3.SilentFrames(40, withId3: false)).Length, expected * 0.97, expected * 1.01);
    }
}
