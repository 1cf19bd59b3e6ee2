namespace LlavaModal.Encoders.Audio.Reading;

/// <summary>Limits and target format for <see cref="AudioReader"/>.</summary>
public sealed record AudioReaderOptions
{
    /// <summary>Sample rate of the returned samples, in Hz (Whisper: 16000).</summary>
    public int TargetSampleRate { get; init; } = 16_000;

    /// <summary>Longest audio accepted per input (default 10 minutes: 20 Whisper windows, 30000 tokens, already more than
    /// most models' context); longer input is refused rather than decoded, which bounds memory whatever a file's header claims.</summary>
    public TimeSpan MaxDuration { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Lowest source sample rate accepted (default 4000 Hz): resampling up to the target rate multiplies the
    /// samples, so a 2 KB WAV declaring 1 Hz would become half an hour of audio (about 51000 tokens).</summary>
    public int MinSampleRate { get; init; } = 4000;

    /// <summary>Most bytes buffered from a non-seekable stream (the decoders need to seek).</summary>
    public long MaxStreamBytes { get; init; } = 1L << 30;

    /// <summary>The defaults: 16 kHz, at most 10 minutes from a source of at least 4 kHz, at most 1 GiB buffered from a non-seekable stream.</summary>
    public static AudioReaderOptions Default { get; } = new();
}
