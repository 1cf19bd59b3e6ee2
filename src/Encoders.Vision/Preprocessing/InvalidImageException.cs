using LlavaModal.Abstractions;

namespace LlavaModal.Encoders.Vision.Preprocessing;

/// <summary>An image could not be used: empty, truncated, corrupt, of an unknown format or too large to decode safely.</summary>
public sealed class InvalidImageException : LlavaModalException
{
    /// <summary>Creates the exception; the message starts with <paramref name="source"/> (a file path or a caller-given name).</summary>
    public InvalidImageException(string source, string message, Exception? inner = null)
        : base($"{source}: {message}", inner) => ImageSource = source;

    /// <summary>The file path or the caller-given name of the image at fault.</summary>
    public string ImageSource { get; }
}
