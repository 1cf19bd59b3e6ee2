using LlavaModal.Encoders.Audio;
using LlavaModal.Encoders.Audio.Reading;

namespace LlavaModal.Tests.Encoders.Audio;

/// <summary>
/// Issue 15, 3 and 5, for audio: a 2 KB WAV declaring 1 Hz was upsampled to half an hour (about 51000 tokens); a
/// one-hour WAV asked for 32 GB; random bytes named <c>.mp3</c> were decoded and answered.
/// </summary>
public class HostileAudioTests
{
    [Fact]
    public void A_tiny_wav_declaring_a_tiny_sample_rate_is_refused_before_it_is_upsampled()
    {
        var wav = TestWav.Wav(new double[2000], 1, 1, bits: 8);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidAudioException>(() => new AudioReader().Read(wav, "audio/wav", "slow.wav"));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 20_000_000);
        // 2000 samples at 1 Hz are 33 minutes: over the 10-minute limit before the rate is even looked at.
        Assert.True(e.Message.Contains("MaxDuration", StringComparison.Ordinal) || e.Message.Contains("MinSampleRate", StringComparison.Ordinal), e.Message);
        var slow = TestWav.Wav(new double[200], 1, 100, bits: 8); // 2 s at 100 Hz: within the duration, below the rate
        Assert.Contains("100 Hz", Assert.Throws<InvalidAudioException>(() => new AudioReader().Read(slow, "audio/wav", "slow.wav")).Message);
    }

    [Fact]
    public void A_clip_longer_than_the_default_ten_minutes_is_refused_while_reading()
    {
        // An hour of 16 kHz mono silence that is never held in memory: the reader must stop at its 10-minute limit.
        using var stream = new VirtualWavStream(TestWav.Fmt(TestWav.Pcm, 1, 16000, 16), 3600L * 16000 * 2);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidAudioException>(() => new AudioReader().Read(stream, sourceName: "hour.wav"));
        Assert.Contains("MaxDuration", e.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 200_000_000);
        Assert.Equal(TimeSpan.FromMinutes(10), AudioReaderOptions.Default.MaxDuration);
    }

    [Fact]
    public void Random_bytes_named_mp3_are_refused()
    {
        var random = new Random(15);
        for (int i = 0; i < 20; i++)
        {
            var bytes = new byte[20_000 + random.Next(40_000)];
            random.NextBytes(bytes);
            // Even starting with a frame sync, noise is not a stream of frames.
            if (i % 2 == 0) { bytes[0] = 0xFF; bytes[1] = 0xFB; bytes[2] = 0x90; }
            var e = Assert.Throws<InvalidAudioException>(() => new AudioReader().Read(bytes, "audio/mpeg", "noise.mp3"));
            Assert.Contains("MP3", e.Message, StringComparison.OrdinalIgnoreCase);
        }
        // Real frames, with and without an ID3 tag, still decode.
        Assert.NotEmpty(new AudioReader().Read(TestMp3.SilentFrames(40, withId3: true), "audio/mpeg", "ok.mp3"));
        Assert.NotEmpty(new AudioReader().Read(TestMp3.SilentFrames(2, withId3: false), "audio/mpeg", "short.mp3"));
    }
}
