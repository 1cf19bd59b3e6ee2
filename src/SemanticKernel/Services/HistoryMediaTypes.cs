using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;

namespace LlavaModal.SemanticKernel.Services;

/// <summary>
/// Semantic Kernel's adapter cannot convert an <see cref="ImageContent"/> whose bytes come without a media type (it
/// throws building the data URI). Such images are recognised from their bytes here, on a copy of the history: the
/// caller's history is left as it was.
/// </summary>
internal static class HistoryMediaTypes
{
    public static ChatHistory Complete(ChatHistory history)
    {
        if (!history.Any(m => m.Items.Any(NeedsMediaType))) return history;
        var copy = new ChatHistory();
        foreach (var message in history)
        {
            if (!message.Items.Any(NeedsMediaType)) { copy.Add(message); continue; }
            var items = new ChatMessageContentItemCollection();
            foreach (var item in message.Items)
                items.Add(NeedsMediaType(item) && item is ImageContent image ? WithSniffedType(image) : item);
            copy.Add(new ChatMessageContent(message.Role, items, message.ModelId, message.InnerContent, message.Encoding, message.Metadata) { AuthorName = message.AuthorName });
        }
        return copy;
    }

    static bool NeedsMediaType(KernelContent item) => item is ImageContent { Data: not null, MimeType: null or "" };

    static ImageContent WithSniffedType(ImageContent image)
    {
        var bytes = image.Data!.Value;
        // Unrecognised bytes keep going without a type, so the adapter's own error reaches the caller.
        var type = MediaSniffer.ImageMediaType(bytes.Span);
        return type is null ? image : new ImageContent(bytes, type) { ModelId = image.ModelId, Metadata = image.Metadata, InnerContent = image.InnerContent };
    }
}
