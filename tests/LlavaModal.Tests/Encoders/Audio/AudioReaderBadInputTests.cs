using System.Buffers.Binary;
using System.Text;
using LlavaModal.Encoders.Audio;
using LlavaModal.Encoders.Audio.Reading;
using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.Encoders.Audio;

/// <summary>Every malformed input is an <see cref="InvalidAudioException"/> naming the source and the problem,
/// and none can make the reader allocate more than its duration cap allows.</summary>
public sealed class AudioReaderBadInputTests
{
    static readonly AudioReader Reader = new();
    static byte[] GoodWav => TestWav.Wav(TestWav.Sine(16000, 0.5, 440), 1, 16000);
    static byte[] Fmt16 => TestWav.Fmt(TestWav.Pcm, 1, 16000, 16);

    static InvalidAudioException Fails(byte[] data, string expectedText, AudioReader? reader = null, string? mediaType = null)
    {
        var ex = Assert.Throws<InvalidAudioException>(() => (reader ?? Reader).Read(data, mediaType, "clip.bin"));
        Assert.StartsWith("clip.bin: ", ex.Message);
        Assert.True(ex.Message.Contains(expectedText, StringComparison.OrdinalIgnoreCase), ex.Message);
        return ex;
    }

    [Fact]
    public void Empty_input() => Fails([], "empty");

    [Fact]
    public void Truncated_header() => Fails(GoodWav[..30], "WAV");

    [Fact]
    public void Truncated_data() => Fails(GoodWav[..(GoodWav.Length / 2)], "truncated");

    [Fact]
    public void Missing_fmt_chunk() => Fails(TestWav.Riff(("data", new byte[100], null)), "WAV");

    [Fact]
    public void Garbage_after_the_riff_header()
    {
        var bytes = new byte[4096];
        new Random(7).NextBytes(bytes);
        "RIFF"u8.CopyTo(bytes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), (uint)bytes.Length - 8);
        "WAVE"u8.CopyTo(bytes.AsSpan(8));
        Assert.Throws<InvalidAudioException>(() => Reader.Read(bytes, sourceName: "clip.bin"));
    }

    [Fact]
    public void No_samples() => Fails(TestWav.Riff(("fmt ", Fmt16, null), ("data", [], null)), "no audio samples");

    [Fact]
    public void Data_chunk_claiming_gigabytes_in_a_small_file_is_truncated_without_a_large_allocation()
    {
        var wav = TestWav.Riff(("fmt ", Fmt16, null), ("data", TestWav.Encode(TestWav.Sine(16000, 1, 440), 16, false), 0xFFFF_FFF0));
        long before = GC.GetAllocatedBytesForCurrentThread();
        Fails(wav, "truncated");
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 << 20, "allocated more than 16 MiB");
    }

    [Fact]
    public void Audio_longer_than_the_cap_is_refused_after_reading_only_the_cap()
    {
        var reader = new AudioReader(new AudioReaderOptions { MaxDuration = TimeSpan.FromSeconds(2) });
        using var stream = new VirtualWavStream(Fmt16, dataBytes: 4L << 30); // a real 4 GiB data chunk (~37 h)
        long before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<InvalidAudioException>(() => reader.Read(stream, sourceName: "huge.wav"));
        Assert.Contains("longer than the maximum", ex.Message);
        Assert.Contains("MaxDuration", ex.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 << 20, "allocated more than 16 MiB");
        Assert.True(stream.Position < 1 << 20, $"read {stream.Position} bytes, far past the 2 s cap");
    }

    [Fact]
    public void Huge_fmt_chunk_length() =>
        Assert.Throws<InvalidAudioException>(() => Reader.Read(TestWav.Riff(("fmt ", Fmt16, 0x7FFF_FFF0), ("data", new byte[64], null)), sourceName: "clip.bin"));

    [Fact]
    public void Rf64_with_an_implausible_ds64_chunk()
    {
        var wav = GoodWav;
        var rf64 = new byte[wav.Length + 36];
        "RF64"u8.CopyTo(rf64);
        BinaryPrimitives.WriteUInt32LittleEndian(rf64.AsSpan(4), uint.MaxValue);
        "WAVE"u8.CopyTo(rf64.AsSpan(8));
        "ds64"u8.CopyTo(rf64.AsSpan(12));
        BinaryPrimitives.WriteUInt32LittleEndian(rf64.AsSpan(16), 0x7FFF_FFF0); // NAudio would ReadBytes(this - 24)
        wav.AsSpan(12).CopyTo(rf64.AsSpan(48));
        Fails(rf64, "ds64");
    }

    [Fact]
    public void Adpcm_is_unsupported_and_the_message_lists_what_is() =>
        Assert.Contains("PCM", Fails(TestWav.Riff(("fmt ", TestWav.Fmt(TestWav.Adpcm, 1, 16000, 4, blockAlign: 256), null), ("data", new byte[1024], null)), "unsupported WAV encoding").Message);

    [Fact]
    public void Extensible_with_an_adpcm_subformat_is_unsupported() =>
        Fails(TestWav.Riff(("fmt ", TestWav.Fmt(TestWav.Extensible, 1, 16000, 16, subFormat: TestWav.Adpcm), null), ("data", new byte[1024], null)), "unsupported WAV encoding");

    [Fact]
    public void Pcm_12_bit_is_unsupported() =>
        Fails(TestWav.Riff(("fmt ", TestWav.Fmt(TestWav.Pcm, 1, 16000, 12, blockAlign: 2), null), ("data", new byte[1024], null)), "bit depth 12");

    [Theory]
    [InlineData(1, 16000, 16, 4, "block align")]
    [InlineData(0, 16000, 16, 2, "channel count")]
    [InlineData(1, 16000, 16, 0, "block align")]
    [InlineData(1, 0, 16, 2, "sample rate")]
    public void Inconsistent_or_absurd_format_fields(int channels, int rate, int bits, int blockAlign, string expected) =>
        Fails(TestWav.Riff(("fmt ", TestWav.Fmt(TestWav.Pcm, channels, rate, bits, blockAlign: blockAlign), null), ("data", new byte[1024], null)), expected);

    [Fact]
    public void Non_finite_float_samples()
    {
        var data = TestWav.Encode([0.1, double.NaN, 0.2, 0.3], 32, isFloat: true);
        Fails(TestWav.Riff(("fmt ", TestWav.Fmt(TestWav.IeeeFloat, 1, 16000, 32), null), ("data", data, null)), "NaN");
    }

    [Fact]
    public void Unknown_container_names_the_supported_formats()
    {
        var ogg = Encoding.ASCII.GetBytes("OggS\0\x02" + new string('\0', 100));
        var ex = Fails(ogg, "unrecognised audio format");
        Assert.Contains("WAV", ex.Message);
        Assert.Contains("MP3", ex.Message);
        Assert.Contains("audio/ogg", Fails(ogg, "unrecognised", mediaType: "audio/ogg").Message);
    }

    [Fact]
    public void Garbage_declared_as_mp3()
    {
        var bytes = new byte[8192];
        new Random(3).NextBytes(bytes);
        bytes[0] = 0x00; // no frame sync at the start, so only the media type says MP3
        var ex = Assert.Throws<InvalidAudioException>(() => Reader.Read(bytes, "audio/mpeg", "clip.bin"));
        Assert.StartsWith("clip.bin: ", ex.Message);
    }

    [Fact]
    public void Truncated_mp3_header() => Assert.Throws<InvalidAudioException>(() => Reader.Read(TestMp3.SilentFrames(1, withId3: false)[..3], sourceName: "clip.bin"));

    [Fact]
    public void Mp3_longer_than_the_cap()
    {
        var reader = new AudioReader(new AudioReaderOptions { MaxDuration = TimeSpan.FromSeconds(0.5) });
        Fails(TestMp3.SilentFrames(40, withId3: true), "longer than the maximum", reader);
    }

    [Fact]
    public void Mp3_too_large_for_the_cap_at_any_bitrate_is_refused_before_decoding()
    {
        // 1 s cap: at most 40 kB of 320 kbit/s audio plus 16 MiB of tags.
        var reader = new AudioReader(new AudioReaderOptions { MaxDuration = TimeSpan.FromSeconds(1) });
        var mp3 = TestMp3.SilentFrames(45_000, withId3: false); // ~18.8 MB
        long before = GC.GetAllocatedBytesForCurrentThread();
        Fails(mp3, "at any MP3 bitrate", reader);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "decoding started");
    }

    [Fact]
    public void Missing_file_names_the_path()
    {
        using var dir = new TempDir();
        var path = dir.File("nope.wav");
        var ex = Assert.Throws<InvalidAudioException>(() => Reader.ReadFile(path));
        Assert.Equal(path, ex.AudioSource);
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void Corrupt_file_names_the_path()
    {
        using var dir = new TempDir();
        var path = dir.File("cut.wav");
        File.WriteAllBytes(path, GoodWav[..1000]);
        Assert.Contains(path, Assert.Throws<InvalidAudioException>(() => Reader.ReadFile(path)).Message);
    }

    [Fact]
    public void Non_seekable_stream_larger_than_the_buffer_limit()
    {
        var reader = new AudioReader(new AudioReaderOptions { MaxStreamBytes = 1000 });
        using var stream = new NonSeekableStream(new MemoryStream(GoodWav));
        var ex = Assert.Throws<InvalidAudioException>(() => reader.Read(stream, sourceName: "pipe"));
        Assert.Contains("MaxStreamBytes", ex.Message);
    }
}
