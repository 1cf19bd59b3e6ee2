using LlavaModal.Abstractions.IO;

namespace LlavaModal.Abstractions.Modality;

/// <summary>
/// A raw input for a modality plugin: the bytes of an image, an audio clip or anything a plugin understands,
/// with its media type when known (<c>image/png</c>, <c>audio/wav</c>) and where it came from (for error messages).
/// </summary>
/// <param name="Data">The encoded bytes (file contents).</param>
/// <param name="MediaType">MIME type, or null to let the plugin sniff the content.</param>
/// <param name="Source">A file path or description used in error messages.</param>
public sealed record ModalityInput(ReadOnlyMemory<byte> Data, string? MediaType = null, string? Source = null)
{
    /// <summary>The modality this input is for (<c>image</c>, <c>audio</c>); null routes it by media type to the plugin that accepts it.</summary>
    public string? Modality { get; init; }

    /// <summary>Default <c>maxBytes</c> of <see cref="FromFile"/>: 256 MiB (the image loader's own limit).</summary>
    public const long DefaultMaxFileBytes = 256L << 20;

    /// <summary>Reads a file; the media type is guessed from the extension.</summary>
    /// <param name="path">The file: a regular file (a FIFO or a device is refused before it is opened).</param>
    /// <param name="modality">The modality it is for, or null to route it by media type.</param>
    /// <param name="maxBytes">Largest file read (default <see cref="DefaultMaxFileBytes"/>), checked before reading.</param>
    /// <exception cref="LlavaModalException">The file does not exist, is not a regular file, is larger than <paramref name="maxBytes"/> or cannot be read.</exception>
    public static ModalityInput FromFile(string path, string? modality = null, long maxBytes = DefaultMaxFileBytes)
    {
        ArgumentNullException.ThrowIfNull(path);
        var data = InputFiles.ReadAllBytes(path, maxBytes, "the maxBytes of ModalityInput.FromFile", message => new LlavaModalException($"{path}: {message}"));
        return new ModalityInput(data, MediaTypes.FromExtension(Path.GetExtension(path)), path) { Modality = modality };
    }

    /// <summary>
    /// The frames of a video given as separate encoded images (<see cref="FromFolder"/>), in order, with
    /// <see cref="MediaType"/> <see cref="MediaTypes.FrameSequence"/> and no <see cref="Data"/>; null for an input held whole in <see cref="Data"/>.
    /// </summary>
    public IReadOnlyList<ModalityInput>? Frames { get; init; }

    /// <summary>Default <c>maxFrames</c> of <see cref="FromFolder"/>: frame files read from one folder.</summary>
    public const int DefaultMaxFolderFrames = 10_000;

    /// <summary>
    /// Reads a folder of frame images as one video: every image file (by extension: PNG, JPEG, ...) in name order, numbers
    /// compared by value (<c>frame2.png</c> before <c>frame10.png</c>); hidden files (a leading dot) are skipped. With
    /// <paramref name="sample"/>, only that many frames are read, chosen evenly from first to last as the reference's
    /// examples sample videos (<c>np.linspace(0, total - 1, sample).astype(int)</c>).
    /// </summary>
    /// <param name="folder">The folder.</param>
    /// <param name="modality">The modality it is for (default <c>video</c>).</param>
    /// <param name="sample">Frames to keep (evenly spaced), or null for all.</param>
    /// <param name="maxFrames">Most frame files the folder may hold (checked before anything is read).</param>
    /// <param name="maxBytes">Most bytes of the frames read, together.</param>
    /// <exception cref="LlavaModalException">The folder is missing or empty, holds a file that is not an image, more than <paramref name="maxFrames"/> frames or more than <paramref name="maxBytes"/> bytes.</exception>
    public static ModalityInput FromFolder(string folder, string? modality = "video", int? sample = null, int maxFrames = DefaultMaxFolderFrames, long maxBytes = DefaultMaxFileBytes)
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (sample is < 1) throw new ArgumentOutOfRangeException(nameof(sample), sample, "Sample at least one frame.");
        if (!Directory.Exists(folder)) throw new LlavaModalException($"{folder}: folder not found.");
        var files = new List<string>();
        foreach (var path in Directory.EnumerateFiles(folder))
        {
            var name = Path.GetFileName(path);
            if (name.StartsWith('.')) continue;
            if (!MediaTypes.Matches(MediaTypes.FromExtension(Path.GetExtension(name)), "image/*"))
                throw new LlavaModalException($"{folder}: '{name}' is not an image file; a video folder holds only its frames (PNG, JPEG, GIF, BMP, WebP, TIFF, TGA).");
            if (files.Count == maxFrames)
                throw new LlavaModalException($"{folder}: more than {maxFrames} frame files (the maxFrames of ModalityInput.FromFolder).");
            files.Add(path);
        }
        if (files.Count == 0) throw new LlavaModalException($"{folder}: no frame images in the folder.");
        files.Sort(NaturalOrder.Compare);
        if (sample is int n && n < files.Count) files = [.. Sample(files.Count, n).Select(i => files[i])];

        var frames = new List<ModalityInput>(files.Count);
        long total = 0;
        foreach (var path in files)
        {
            var data = InputFiles.ReadAllBytes(path, maxBytes - total, "the maxBytes of ModalityInput.FromFolder, for all frames together", message => new LlavaModalException($"{path}: {message}"));
            total += data.Length;
            frames.Add(new ModalityInput(data, MediaTypes.FromExtension(Path.GetExtension(path)), path) { Modality = "image" });
        }
        return new ModalityInput(ReadOnlyMemory<byte>.Empty, MediaTypes.FrameSequence, folder) { Modality = modality, Frames = frames };
    }

    /// <summary>Indices of <paramref name="count"/> frames spread evenly over <paramref name="total"/>: <c>np.linspace(0, total - 1, count).astype(int)</c>.</summary>
    public static int[] Sample(int total, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(total);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        if (count == 1) return [0];
        // numpy's linspace: start + i * step, the last value set to stop exactly; astype(int) truncates.
        double step = (double)(total - 1) / (count - 1);
        return [.. Enumerable.Range(0, count).Select(i => i == count - 1 ? total - 1 : (int)(i * step))];
    }

    /// <summary>A short description for messages.</summary>
    public string Describe() => Source ?? $"{MediaType ?? "input"} ({(Frames is { } f ? $"{f.Count} frames" : $"{Data.Length} bytes")})";
}

/// <summary>File names in the order a person numbers them: runs of digits compared by value.</summary>
static class NaturalOrder
{
    public static int Compare(string? a, string? b)
    {
        if (a is null || b is null) return string.CompareOrdinal(a, b);
        int i = 0, j = 0;
        while (i < a.Length && j < b.Length)
        {
            if (char.IsAsciiDigit(a[i]) && char.IsAsciiDigit(b[j]))
            {
                int si = i, sj = j;
                while (i < a.Length && char.IsAsciiDigit(a[i])) i++;
                while (j < b.Length && char.IsAsciiDigit(b[j])) j++;
                var x = a[si..i].TrimStart('0');
                var y = b[sj..j].TrimStart('0');
                int byValue = x.Length != y.Length ? x.Length.CompareTo(y.Length) : string.CompareOrdinal(x, y);
                if (byValue != 0) return byValue;
                continue;
            }
            if (a[i] != b[j]) return a[i].CompareTo(b[j]);
            i++;
            j++;
        }
        int rest = (a.Length - i).CompareTo(b.Length - j);
        return rest != 0 ? rest : string.CompareOrdinal(a, b);
    }
}

/// <summary>Media type helpers.</summary>
public static class MediaTypes
{
    static readonly Dictionary<string, string> ByExtension = new(StringComparer.OrdinalIgnoreCase)
    {
        [".png"] = "image/png", [".jpg"] = "image/jpeg", [".jpeg"] = "image/jpeg", [".gif"] = "image/gif",
        [".bmp"] = "image/bmp", [".webp"] = "image/webp", [".tif"] = "image/tiff", [".tiff"] = "image/tiff", [".tga"] = "image/x-tga",
        [".wav"] = "audio/wav", [".wave"] = "audio/wav", [".mp3"] = "audio/mpeg",
        [".mp4"] = "video/mp4", [".m4v"] = "video/mp4", [".webm"] = "video/webm", [".mkv"] = "video/x-matroska",
        [".mov"] = "video/quicktime", [".avi"] = "video/x-msvideo",
    };

    /// <summary>A video given as separate frame images (<see cref="ModalityInput.Frames"/>).</summary>
    public const string FrameSequence = "video/x-frame-sequence";

    /// <summary>The media type for a file extension, or null.</summary>
    public static string? FromExtension(string extension) => ByExtension.GetValueOrDefault(extension);

    /// <summary>True when <paramref name="mediaType"/> matches <paramref name="pattern"/> (<c>image/*</c> matches <c>image/png</c>).</summary>
    public static bool Matches(string? mediaType, string pattern)
    {
        if (mediaType is null) return false;
        var type = mediaType.Split(';')[0].Trim();
        return pattern.EndsWith("/*", StringComparison.Ordinal)
            ? type.StartsWith(pattern[..^1], StringComparison.OrdinalIgnoreCase)
            : string.Equals(type, pattern, StringComparison.OrdinalIgnoreCase);
    }
}
