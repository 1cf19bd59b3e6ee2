using LlavaModal.Abstractions;

namespace LlavaModal.Encoders.Vision.Video;

/// <summary>A video file could not be decoded through ffmpeg: none found, it failed, timed out, or gave output that does not fit the video (names the file and ends with ffmpeg's last error lines).</summary>
public sealed class VideoDecodeException : LlavaModalException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="source">The video (a file path or a description).</param>
    /// <param name="message">What went wrong.</param>
    /// <param name="stderrTail">The end of ffmpeg's (or ffprobe's) error output, or null.</param>
    /// <param name="inner">The cause, if any.</param>
    public VideoDecodeException(string source, string message, string? stderrTail = null, Exception? inner = null)
        : base($"{source}: {message}{(string.IsNullOrWhiteSpace(stderrTail) ? "" : $" Its error output: {stderrTail.Trim()}")}", inner)
    {
        VideoSource = source;
        StderrTail = stderrTail;
    }

    /// <summary>The video at fault.</summary>
    public string VideoSource { get; }

    /// <summary>The end of the tool's error output, or null.</summary>
    public string? StderrTail { get; }
}
