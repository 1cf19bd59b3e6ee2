using LlavaModal.Encoders.Audio;
using LlavaModal.Encoders.Audio.Reading;
using LlavaModal.Tests.Support;
using Xunit.Abstractions;

namespace LlavaModal.Tests.Encoders.Audio;

/// <summary>
/// Seeded fuzzing of WAV files (PCM 8/16/24-bit, float, stereo, extensible): edits concentrated on the RIFF and fmt
/// headers (sizes, rates, formats, channel counts), truncations and duplicated ranges. Every case is refused with an
/// <see cref="InvalidAudioException"/> or decodes the same twice to finite samples within the duration limit.
/// </summary>
public class WavFuzzTests(ITestOutputHelper output)
{
    [Fact]
    public void Mutated_wavs_are_refused_with_InvalidAudioException_or_decode_the_same_twice_to_finite_samples()
    {
        var tone = TestWav.Sine(8000, 0.25, 440);
        var stereo = tone.SelectMany(v => new[] { v, -v }).ToArray();
        byte[][] originals =
        [
            TestWav.Wav(tone, 1, 8000),
            TestWav.Wav(tone, 1, 8000, bits: 8),
            TestWav.Wav(stereo, 2, 8000, bits: 24),
            TestWav.Wav(tone, 1, 8000, bits: 32, isFloat: true),
            TestWav.Wav(stereo, 2, 8000, extensible: true),
        ];
        var options = new AudioReaderOptions { MaxDuration = TimeSpan.FromSeconds(30) };
        var reader = new AudioReader(options);
        var report = Fuzz.Run("wav", seed: 15, cases: 320, TimeSpan.FromSeconds(20),
            (random, i) =>
            {
                var original = originals[i % originals.Length];
                return Fuzz.Mutate(random, original, 0, random.Next(4) == 0 ? original.Length : 72);
            },
            bytes =>
            {
                var first = reader.Read(bytes, "audio/wav", "fuzz.wav");
                var second = reader.Read(bytes, "audio/wav", "fuzz.wav");
                Assert.Equal(first, second);
                Assert.All(first, v => Assert.True(float.IsFinite(v)));
                Assert.True(first.Length <= options.MaxDuration.TotalSeconds * options.TargetSampleRate + 1);
            },
            output, typeof(InvalidAudioException));
        Assert.True(report.Counts.GetValueOrDefault("accepted") > 0, report.ToString());
        Assert.True(report.Counts.GetValueOrDefault(nameof(InvalidAudioException)) > 50, report.ToString());
    }
}
