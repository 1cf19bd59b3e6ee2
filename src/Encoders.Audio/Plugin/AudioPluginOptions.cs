using LlavaModal.Encoders.Audio.Reading;

namespace LlavaModal.Encoders.Audio.Plugin;

/// <summary>What the audio plugin does with a clip longer than the encoder's window (30 s for Whisper).</summary>
public enum LongClipPolicy
{
    /// <summary>Split it into consecutive windows (the last one padded), encode each, and splice their tokens in order in place of the one placeholder.</summary>
    Split,

    /// <summary>Refuse it with an error naming its length and the window's.</summary>
    Refuse,
}

/// <summary>Options of the Whisper audio plugin.</summary>
public sealed record AudioPluginOptions
{
    /// <summary>Clips longer than one window: <see cref="LongClipPolicy.Split"/> (default) or <see cref="LongClipPolicy.Refuse"/>.</summary>
    public LongClipPolicy LongClips { get; init; } = LongClipPolicy.Split;

    /// <summary>Decoding limits (longest clip accepted, default one hour; the sample rate is set from the feature extractor's).</summary>
    public AudioReaderOptions Reader { get; init; } = AudioReaderOptions.Default;

    /// <summary>Windows encoded per forward pass of the encoder (default 1: memory stays that of one window whatever the clip's length).</summary>
    public int WindowsPerBatch { get; init; } = 1;
}
