using LlavaModal.Abstractions.IO;

namespace LlavaModal.Tokenizers;

/// <summary>
/// Reads tokenizer and template files as untrusted input: regular files only (a FIFO named <c>tokenizer.json</c> would
/// block forever, a device never ends) of at most <see cref="MaxFileBytes"/>, checked before a byte is read.
/// </summary>
static class TokenizerInput
{
    /// <summary>Largest tokenizer file read: 256 MiB (the largest real <c>tokenizer.json</c> files are tens of MB).</summary>
    public const long MaxFileBytes = 256L << 20;

    /// <summary>The file's bytes.</summary>
    /// <exception cref="InvalidDataException">Missing, not a regular file, over the limit or unreadable (names the file).</exception>
    public static byte[] ReadAllBytes(string path)
    {
        var facts = FileProbe.Stat(path);
        if (facts.Kind != FileKind.Regular)
            throw new InvalidDataException(facts.Kind == FileKind.Missing ? $"'{path}': file not found." : $"'{path}' is {FileProbe.Describe(facts.Kind)}, not a regular file; only regular files are read.");
        if (facts.Size > MaxFileBytes)
            throw new InvalidDataException($"'{path}' is {facts.Size} bytes, over the {MaxFileBytes}-byte limit for tokenizer files.");
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            var data = new byte[Math.Min(stream.Length, MaxFileBytes)];
            stream.ReadExactly(data);
            return data;
        }
        catch (IOException e) { throw new InvalidDataException($"'{path}' cannot be read: {e.Message}", e); }
    }

    /// <summary>A JSON file's bytes, refused unless they are UTF-8 (the parser checks structure only, and a bad string would fail untyped when read).</summary>
    /// <exception cref="InvalidDataException">As <see cref="ReadAllBytes"/>, or not UTF-8.</exception>
    public static byte[] ReadJson(string path)
    {
        var bytes = ReadAllBytes(path);
        return System.Text.Unicode.Utf8.IsValid(bytes) ? bytes : throw new InvalidDataException($"'{path}' is not valid UTF-8 text.");
    }

    /// <summary>The file as UTF-8 text (a byte order mark is skipped, as <see cref="File.ReadAllText(string)"/> does).</summary>
    public static string ReadAllText(string path)
    {
        var bytes = ReadAllBytes(path);
        var span = bytes.AsSpan();
        if (span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) span = span[3..];
        return System.Text.Encoding.UTF8.GetString(span);
    }
}
