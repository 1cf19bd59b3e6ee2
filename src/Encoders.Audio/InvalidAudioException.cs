using LlavaModal.Abstractions;

namespace LlavaModal.Encoders.Audio;

/// <summary>Audio input that cannot be read: unsupported container or encoding, truncated or corrupt data,
/// no samples, or longer than the configured maximum. The message names the source and the problem.</summary>
public sealed class InvalidAudioException : LlavaModalException
{
    /// <summary>Creates the exception; the message is prefixed with <paramref name="audioSource"/>.</summary>
    public InvalidAudioException(string audioSource, string message, Exception? inner = null)
        : base($"{audioSource}: {message}", inner) => AudioSource = audioSource;

    /// <summary>The file path or caller-supplied name of the audio at fault.</summary>
    public string AudioSource { get; }
}
