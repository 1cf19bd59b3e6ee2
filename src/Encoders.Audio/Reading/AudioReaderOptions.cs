namespace LlavaModal.Encoders.Audio.Reading;

/// <summary>Limits and target format for <see cref="AudioReader"/>.</summary>
public sealed record AudioReaderOptions
{
    /// <summary>Sample rate of the returned samples, in Hz (Whisper: 16000).</summary>
    public int TargetSampleRate { get; init; } = 16_000;

    /// <summary>Longest audio accepted; longer input is refused rather than decoded, which bounds memory
    /// whatever a file's header claims.</summary>
    public TimeSpan MaxDuration { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Most bytes buffered from a non-seekable stream (the decoders need to seek).</summary>
    public long MaxStreamBytes { get; init; } = 1L << 30;

    /// <summary>The defaults: 16 kHz, at most one hour, at most 1 GiB buffered from a non-seekable stream.</summary>
    public static AudioReaderOptions Default { get; } = new();
}
