namespace LlavaModal.Abstractions.IO;

/// <summary>
/// Reads files a user or an attacker handed over (configs, images, audio, indexes) as untrusted input: only regular files
/// are opened (a FIFO would block forever, <c>/dev/zero</c> never ends), and the size is checked against a limit before a
/// byte is read, so memory is bounded by the limit and never by what the path turns out to be.
/// </summary>
public static class InputFiles
{
    /// <summary>Why <paramref name="path"/> may not be read, or null when it is a regular file of at most <paramref name="maxBytes"/> bytes.</summary>
    /// <param name="path">The file.</param>
    /// <param name="maxBytes">The size limit.</param>
    /// <param name="limitName">The option that sets the limit, named in the message so the user knows what to raise.</param>
    public static string? Refusal(string path, long maxBytes, string limitName)
    {
        ArgumentNullException.ThrowIfNull(path);
        var facts = FileProbe.Stat(path);
        return facts.Kind switch
        {
            FileKind.Missing => "file not found.",
            FileKind.Regular when facts.Size > maxBytes => $"the file is {facts.Size} bytes, over the limit of {maxBytes} bytes ({limitName}).",
            FileKind.Regular => null,
            var kind => $"is {FileProbe.Describe(kind)}, not a regular file; only regular files are read.",
        };
    }

    /// <summary>True when <paramref name="path"/> is a regular file (links followed).</summary>
    public static bool IsRegularFile(string path) => FileProbe.Stat(path).Kind == FileKind.Regular;

    /// <summary>Reads a whole regular file of at most <paramref name="maxBytes"/> bytes.</summary>
    /// <param name="path">The file.</param>
    /// <param name="maxBytes">The size limit, checked before reading (and again while reading, in case the file grows).</param>
    /// <param name="limitName">The option that sets the limit (named in the message).</param>
    /// <param name="error">Makes the caller's typed exception from a message that describes the problem.</param>
    /// <exception cref="Exception">Whatever <paramref name="error"/> makes: missing, not a regular file, over the limit, unreadable.</exception>
    public static byte[] ReadAllBytes(string path, long maxBytes, string limitName, Func<string, Exception> error)
    {
        ArgumentNullException.ThrowIfNull(error);
        using var stream = OpenRead(path, maxBytes, limitName, error);
        var data = new byte[stream.Length];
        try
        {
            stream.ReadExactly(data);
            if (stream.ReadByte() >= 0) throw error("the file grew while it was read.");
        }
        catch (IOException e) { throw error($"cannot be read: {e.Message}"); }
        return data;
    }

    /// <summary>Opens a regular file of at most <paramref name="maxBytes"/> bytes for reading.</summary>
    /// <exception cref="Exception">Whatever <paramref name="error"/> makes.</exception>
    public static FileStream OpenRead(string path, long maxBytes, string limitName, Func<string, Exception> error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (Refusal(path, maxBytes, limitName) is { } problem) throw error(problem);
        try { return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw error($"cannot be read: {e.Message}"); }
    }
}
