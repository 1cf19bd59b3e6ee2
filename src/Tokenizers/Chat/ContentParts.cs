using LlavaModal.Tokenizers.Chat.Jinja;

namespace LlavaModal.Tokenizers.Chat;

/// <summary>
/// Turns message text with media placeholders into the content list multimodal chat templates iterate
/// (<c>[{"type": "image"}, {"type": "text", "text": ...}]</c>), so that a message written the LLaVA way
/// (<c>"&lt;image&gt;\nWhat is this?"</c>) renders as the processor renders
/// <c>[{"type": "image"}, {"type": "text", "text": "What is this?"}]</c>.
/// </summary>
/// <remarks>
/// Rules: each placeholder becomes an item of its type, in order; the text between placeholders becomes text items;
/// whitespace touching a placeholder (the <c>\n</c> LLaVA writes after <c>&lt;image&gt;</c>) is dropped, whitespace at
/// the ends of the message is kept; empty text items are dropped, but a message with no items at all becomes one
/// empty text item (templates read <c>content[0]['text']</c>).
/// </remarks>
static class ContentParts
{
    /// <summary>The placeholders recognised, with the content type each becomes.</summary>
    public static readonly IReadOnlyDictionary<string, string> DefaultPlaceholders = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["<image>"] = "image",
        ["<video>"] = "video",
        ["<audio>"] = "audio",
    };

    public static List<object?> Split(string text, IReadOnlyDictionary<string, string> placeholders)
    {
        var items = new List<object?>();
        int start = 0;
        bool afterPlaceholder = false;
        while (true)
        {
            (int at, string? placeholder) = NextPlaceholder(text, start, placeholders);
            string segment = placeholder is null ? text[start..] : text[start..at];
            if (afterPlaceholder)
            {
                segment = JinjaStrings.Strip(segment, null, right: false);
            }

            if (placeholder is not null)
            {
                segment = JinjaStrings.Strip(segment, null, left: false);
            }

            if (segment.Length > 0)
            {
                items.Add(Item("text", segment));
            }

            if (placeholder is null)
            {
                break;
            }

            items.Add(Item(placeholders[placeholder], null));
            start = at + placeholder.Length;
            afterPlaceholder = true;
        }

        if (items.Count == 0)
        {
            items.Add(Item("text", string.Empty));
        }

        return items;
    }

    static (int At, string? Placeholder) NextPlaceholder(string text, int from, IReadOnlyDictionary<string, string> placeholders)
    {
        int best = -1;
        string? found = null;
        foreach (string placeholder in placeholders.Keys)
        {
            int at = text.IndexOf(placeholder, from, StringComparison.Ordinal);
            if (at >= 0 && (best < 0 || at < best || (at == best && placeholder.Length > found!.Length)))
            {
                (best, found) = (at, placeholder);
            }
        }

        return (best, found);
    }

    static JinjaDict Item(string type, string? text)
    {
        var item = new JinjaDict { ["type"] = type };
        if (text is not null)
        {
            item["text"] = text;
        }

        return item;
    }
}
