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

    /// <summary>A short description for messages.</summary>
    public string Describe() => Source ?? $"{MediaType ?? "input"} ({Data.Length} bytes)";
}

/// <summary>Media type helpers.</summary>
public static class MediaTypes
{
    static readonly Dictionary<string, string> ByExtension = new(StringComparer.OrdinalIgnoreCase)
    {
        [".png"] = "image/png", [".jpg"] = "image/jpeg", [".jpeg"] = "image/jpeg", [".gif"] = "image/gif",
        [".bmp"] = "image/bmp", [".webp"] = "image/webp", [".tif"] = "image/tiff", [".tiff"] = "image/tiff", [".tga"] = "image/x-tga",
        [".wav"] = "audio/wav", [".wave"] = "audio/wav", [".mp3"] = "audio/mpeg",
    };

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
