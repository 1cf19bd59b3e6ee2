using System.Runtime.InteropServices;
using LlavaModal.Abstractions.IO;

namespace LlavaModal.Encoders.Audio.Reading;

/// <summary>
/// Reads WAV or MP3 audio into mono float32 samples at <see cref="AudioReaderOptions.TargetSampleRate"/>:
/// channels are averaged, other rates are resampled, and audio already at the target rate is passed through
/// untouched (16-bit PCM comes back as exactly <c>int16 / 32768</c>, as the Python reference feeds Whisper).
/// Input is untrusted: every failure is an <see cref="InvalidAudioException"/>, and memory is bounded by
/// <see cref="AudioReaderOptions.MaxDuration"/>, never by what a header claims.
/// </summary>
public sealed class AudioReader
{
    /// <summary>Creates a reader with <paramref name="options"/> (defaults: 16 kHz, at most one hour).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A limit or the target rate is not positive.</exception>
    public AudioReader(AudioReaderOptions? options = null)
    {
        Options = options ?? AudioReaderOptions.Default;
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.TargetSampleRate, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(Options.MaxDuration, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.MaxStreamBytes, 1, nameof(options));
    }

    /// <summary>The limits and target rate in use.</summary>
    public AudioReaderOptions Options { get; }

    /// <summary>Reads the audio file at <paramref name="path"/> (format detected from its content).</summary>
    /// <exception cref="InvalidAudioException">Missing, unsupported, corrupt, empty or too long; the message names the file.</exception>
    public float[] ReadFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        // Regular files only (a FIFO would block, a device never end); the decoders bound what they read by MaxDuration.
        using var stream = InputFiles.OpenRead(path, long.MaxValue, "", message => new InvalidAudioException(path, message));
        return Read(stream, mediaType: null, sourceName: path);
    }

    /// <summary>Reads encoded audio held in memory, e.g. the bytes and media type of a Semantic Kernel <c>AudioContent</c>.</summary>
    /// <param name="data">The encoded file (WAV or MP3), not raw samples.</param>
    /// <param name="mediaType">Optional MIME type; only used when the content itself is not recognised.</param>
    /// <param name="sourceName">Name used in error messages (defaults to <c>audio data</c>).</param>
    /// <exception cref="InvalidAudioException">Unsupported, corrupt, empty or too long.</exception>
    public float[] Read(ReadOnlyMemory<byte> data, string? mediaType = null, string? sourceName = null)
    {
        var stream = MemoryMarshal.TryGetArray(data, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(data.ToArray(), writable: false);
        using (stream)
            return Read(stream, mediaType, sourceName);
    }

    /// <summary>Reads encoded audio from <paramref name="stream"/>, from its current position; the stream is not disposed.
    /// A non-seekable stream is first buffered, up to <see cref="AudioReaderOptions.MaxStreamBytes"/>.</summary>
    /// <param name="stream">The encoded file (WAV or MP3).</param>
    /// <param name="mediaType">Optional MIME type; only used when the content itself is not recognised.</param>
    /// <param name="sourceName">Name used in error messages (defaults to <c>audio stream</c>).</param>
    /// <exception cref="InvalidAudioException">Unsupported, corrupt, empty or too long.</exception>
    public float[] Read(Stream stream, string? mediaType = null, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        string source = sourceName ?? (stream is FileStream fs ? fs.Name : "audio data");
        if (!stream.CanSeek)
        {
            using var buffered = Buffer(stream, source);
            return Decode(buffered, mediaType, source);
        }
        return Decode(stream, mediaType, source);
    }

    float[] Decode(Stream stream, string? mediaType, string source)
    {
        Span<byte> head = stackalloc byte[12];
        long start = stream.Position;
        int n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        stream.Position = start;
        if (n == 0)
            throw new InvalidAudioException(source, "the audio input is empty (0 bytes).");
        var decoded = AudioContainerDetector.Detect(head[..n], mediaType) switch
        {
            AudioContainer.Wav => WavDecoder.Decode(stream, source, Options.MaxDuration),
            AudioContainer.Mp3 => Mp3Decoder.Decode(stream, source, Options.MaxDuration),
            _ => throw new InvalidAudioException(source,
                $"unrecognised audio format{(mediaType is null ? "" : $" (media type '{mediaType}')")}; supported: {AudioContainerDetector.Supported}."),
        };
        if (decoded.SampleRate < Options.MinSampleRate)
            throw new InvalidAudioException(source, $"the sample rate is {decoded.SampleRate} Hz, below the minimum of {Options.MinSampleRate} Hz (AudioReaderOptions.MinSampleRate); upsampling it to {Options.TargetSampleRate} Hz would multiply the data {Options.TargetSampleRate / Math.Max(1, decoded.SampleRate)} times.");
        return MonoResampler.Resample(decoded.Samples, decoded.Count, decoded.SampleRate, Options.TargetSampleRate);
    }

    MemoryStream Buffer(Stream stream, string source)
    {
        var memory = new MemoryStream();
        var block = new byte[1 << 16];
        int n;
        while ((n = stream.Read(block, 0, block.Length)) > 0)
        {
            if (memory.Length + n > Options.MaxStreamBytes)
                throw new InvalidAudioException(source, $"the audio stream is larger than {Options.MaxStreamBytes} bytes (AudioReaderOptions.MaxStreamBytes).");
            memory.Write(block, 0, n);
        }
        memory.Position = 0;
        return memory;
    }
}
