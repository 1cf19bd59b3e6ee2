using SixLabors.ImageSharp;

namespace LlavaModal.SemanticKernel.Services;

/// <summary>Recognises image bytes sent without a usable media type (SK's ImageContent may carry none).</summary>
internal static class MediaSniffer
{
    public static string? ImageMediaType(ReadOnlySpan<byte> bytes)
    {
        try { return Image.DetectFormat(bytes) is { } format ? format.DefaultMimeType : null; }
        catch (Exception e) when (e is UnknownImageFormatException or NotSupportedException or InvalidImageContentException) { return null; }
    }
}
