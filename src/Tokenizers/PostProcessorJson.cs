using System.Text.Json;
using LlavaModal.Tokenizers.ByteLevel;

namespace LlavaModal.Tokenizers;

/// <summary>
/// The <c>post_processor</c> of a <c>tokenizer.json</c>, reduced to the ids it puts before and after a single sequence
/// (<c>TemplateProcessing</c>, optionally inside a <c>Sequence</c> with <c>ByteLevel</c>, which only moves offsets).
/// Shared by the byte-level and the SentencePiece-style readers so both refuse the same things the same way.
/// </summary>
static class PostProcessorJson
{
    /// <summary>Reads <c>post_processor</c> of <paramref name="root"/>; absent or null means no ids are added.</summary>
    /// <param name="root">The root object of <c>tokenizer.json</c>.</param>
    /// <param name="path">The file, for messages.</param>
    /// <param name="unsupported">Builds the reader's own "not supported" error from a key and a value.</param>
    public static (List<int> Prefix, List<int> Suffix) Read(JsonElement root, string path, Func<string, string, NotSupportedException> unsupported)
    {
        var prefix = new List<int>();
        var suffix = new List<int>();
        if (root.TryGetProperty("post_processor", out JsonElement post) && post.ValueKind != JsonValueKind.Null)
        {
            ReadProcessor(post, "post_processor", path, unsupported, prefix, suffix);
        }

        return (prefix, suffix);
    }

    static void ReadProcessor(JsonElement post, string key, string path, Func<string, string, NotSupportedException> unsupported, List<int> prefix, List<int> suffix)
    {
        string type = TokenizerJson.OptionalString(post, "type") ?? throw TokenizerFiles.Invalid(path, $"{key}.type", "is missing");
        switch (type)
        {
            case "ByteLevel":
                return; // only adjusts offsets
            case "Sequence":
            {
                int i = 0;
                foreach (JsonElement p in TokenizerJson.Required(post, "processors", path, key).EnumerateArray())
                {
                    ReadProcessor(p, $"{key}.processors[{i++}]", path, unsupported, prefix, suffix);
                }

                return;
            }

            case "TemplateProcessing":
                ReadTemplate(post, key, path, unsupported, prefix, suffix);
                return;
            default:
                throw new NotSupportedException(
                    $"{unsupported($"{key}.type", $"'{type}'").Message} Supported: ByteLevel, TemplateProcessing, Sequence of those.");
        }
    }

    static void ReadTemplate(JsonElement post, string key, string path, Func<string, string, NotSupportedException> unsupported, List<int> prefix, List<int> suffix)
    {
        if (prefix.Count > 0 || suffix.Count > 0)
        {
            throw unsupported(key, "(a second TemplateProcessing)");
        }

        JsonElement single = TokenizerJson.Required(post, "single", path, key);
        JsonElement specials = post.TryGetProperty("special_tokens", out JsonElement s) ? s : default;
        bool seenSequence = false;
        int i = 0;
        foreach (JsonElement item in single.EnumerateArray())
        {
            string itemKey = $"{key}.single[{i++}]";
            if (item.TryGetProperty("Sequence", out JsonElement seq))
            {
                if (seenSequence || TokenizerJson.OptionalString(seq, "id") != "A")
                {
                    throw unsupported(itemKey, TokenizerJson.Describe(item));
                }

                seenSequence = true;
            }
            else if (item.TryGetProperty("SpecialToken", out JsonElement special) && TokenizerJson.OptionalString(special, "id") is string name)
            {
                if (specials.ValueKind != JsonValueKind.Object || !specials.TryGetProperty(name, out JsonElement entry)
                    || !entry.TryGetProperty("ids", out JsonElement ids) || ids.ValueKind != JsonValueKind.Array)
                {
                    throw TokenizerFiles.Invalid(path, $"{key}.special_tokens.{name}", "is missing or has no 'ids'");
                }

                foreach (JsonElement id in ids.EnumerateArray())
                {
                    (seenSequence ? suffix : prefix).Add(id.TryGetInt32(out int v) && v >= 0
                        ? v
                        : throw TokenizerFiles.Invalid(path, $"{key}.special_tokens.{name}.ids", "must hold non-negative integers"));
                }
            }
            else
            {
                throw unsupported(itemKey, TokenizerJson.Describe(item));
            }
        }

        if (!seenSequence)
        {
            throw TokenizerFiles.Invalid(path, $"{key}.single", "has no {\"Sequence\": {\"id\": \"A\"}} item");
        }
    }
}
