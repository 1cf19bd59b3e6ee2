using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;

namespace LlavaModal.SemanticKernel.Services;

/// <summary>
/// Semantic Kernel's adapter cannot convert an <see cref="ImageContent"/> whose bytes come without a media type (it
/// throws building the data URI). Such images get <c>application/octet-stream</c> here, on a copy of the history (the
/// caller's history is left as it was), so the model's plugins recognise them from their bytes when they are routed.
/// </summary>
static class HistoryMediaTypes
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
                items.Add(NeedsMediaType(item) && item is ImageContent image ? WithUnknownType(image) : item);
            copy.Add(new ChatMessageContent(message.Role, items, message.ModelId, message.InnerContent, message.Encoding, message.Metadata) { AuthorName = message.AuthorName });
        }
        return copy;
    }

    static bool NeedsMediaType(KernelContent item) => item is ImageContent { Data: not null, MimeType: null or "" };

    static ImageContent WithUnknownType(ImageContent image) =>
        new(image.Data!.Value, "application/octet-stream") { ModelId = image.ModelId, Metadata = image.Metadata, InnerContent = image.InnerContent };
}
