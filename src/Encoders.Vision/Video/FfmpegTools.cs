namespace LlavaModal.Encoders.Vision.Video;

/// <summary>Finds the <c>ffmpeg</c> and <c>ffprobe</c> executables: the configured path, else the <c>PATH</c>.</summary>
static class FfmpegTools
{
    /// <summary>The ffmpeg to run, and the ffprobe beside it (null when there is none: ffmpeg probes then; one elsewhere may be another version).</summary>
    /// <exception cref="VideoDecodeException">Neither configured nor on the PATH; the message says how to configure it or to give the frames instead.</exception>
    /// <param name="options">Where ffmpeg is configured, if anywhere.</param>
    /// <param name="source">The video, for messages.</param>
    /// <param name="mediaType">Its media type, for messages.</param>
    /// <param name="searchPath">The folders searched (default: the <c>PATH</c> environment variable).</param>
    public static (string Ffmpeg, string? Ffprobe) Find(VideoOptions options, string source, string? mediaType, string? searchPath = null)
    {
        searchPath ??= Environment.GetEnvironmentVariable("PATH");
        string ffmpeg;
        if (options.FfmpegPath is { } configured)
        {
            ffmpeg = Path.GetFullPath(configured);
            if (!File.Exists(ffmpeg))
                throw new VideoDecodeException(source, $"the configured ffmpeg '{configured}' (VideoOptions.FfmpegPath, CLI --ffmpeg) does not exist.");
        }
        else
        {
            ffmpeg = OnPath("ffmpeg", searchPath) ?? throw new VideoDecodeException(source,
                $"{(mediaType is { } type ? $"'{type}' data" : "this video file")} is decoded with ffmpeg, and no ffmpeg executable was found on the PATH. " +
                "Install ffmpeg (e.g. apt-get install ffmpeg), or give its path (VideoOptions.FfmpegPath, CLI --ffmpeg PATH), " +
                "or extract the frames yourself and give the folder (ffmpeg -i clip.mp4 -vf fps=1 frames/%04d.png; --video frames/).");
        }
        var beside = Path.Combine(Path.GetDirectoryName(ffmpeg)!, Executable("ffprobe"));
        return (ffmpeg, File.Exists(beside) ? beside : null);
    }

    static string Executable(string name) => OperatingSystem.IsWindows() ? name + ".exe" : name;

    static string? OnPath(string name, string? path)
    {
        if (string.IsNullOrEmpty(path)) return null;
        foreach (var dir in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate;
            try { candidate = Path.Combine(Path.GetFullPath(dir), Executable(name)); }
            catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException) { continue; }
            if (File.Exists(candidate) && (OperatingSystem.IsWindows() || (File.GetUnixFileMode(candidate) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0))
                return candidate;
        }
        return null;
    }
}
