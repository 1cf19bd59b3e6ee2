using System.Text.Json;

namespace LlavaModal.Tokenizers.Chat;

/// <summary>
/// Finds the Jinja chat template a checkpoint folder ships. The processor's template comes first, because
/// transformers' processors render with it and it is the one that places images (a llava-hf folder's
/// <c>tokenizer_config.json</c> may carry the text model's template, which does not):
/// <list type="number">
/// <item><c>chat_template.jinja</c> (the file recent transformers versions write),</item>
/// <item><c>chat_template.json</c> (<c>{"chat_template": ...}</c>, llava-hf processors),</item>
/// <item><c>processor_config.json</c> (<c>chat_template</c> key, older processors),</item>
/// <item><c>tokenizer_config.json</c> (<c>chat_template</c> key: a string, or a list of <c>{name, template}</c> from which
/// <c>default</c> is taken, as transformers does).</item>
/// </list>
/// </summary>
static class CheckpointTemplateFiles
{
    internal const string JinjaFileName = "chat_template.jinja";
    internal const string JsonFileName = "chat_template.json";
    internal const string ProcessorConfigFileName = "processor_config.json";

    /// <summary>The template text and a description of where it came from, or null when the folder has none.</summary>
    /// <exception cref="InvalidDataException">A <c>chat_template</c> value is malformed (the message names the file and key).</exception>
    public static (string Source, string Origin)? Find(string directory)
    {
        string jinjaPath = Path.Combine(directory, JinjaFileName);
        if (File.Exists(jinjaPath))
        {
            return (TokenizerInput.ReadAllText(jinjaPath), $"'{jinjaPath}'");
        }

        foreach (string file in new[] { JsonFileName, ProcessorConfigFileName, TokenizerFiles.ConfigFileName })
        {
            string path = Path.Combine(directory, file);
            if (File.Exists(path) && Read(path) is string template)
            {
                return (template, $"'{path}' (chat_template)");
            }
        }

        return null;
    }

    static string? Read(string path)
    {
        using JsonDocument doc = TokenizerFiles.Parse(path);
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("chat_template", out JsonElement value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.String)
        {
            return value.GetString();
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            throw TokenizerFiles.Invalid(path, "chat_template", $"must be a string or a list of {{\"name\", \"template\"}} objects, not {value.ValueKind}");
        }

        var names = new List<string>();
        foreach (JsonElement entry in value.EnumerateArray())
        {
            if (entry.ValueKind != JsonValueKind.Object || !entry.TryGetProperty("name", out JsonElement name) || name.ValueKind != JsonValueKind.String
                || !entry.TryGetProperty("template", out JsonElement template) || template.ValueKind != JsonValueKind.String)
            {
                throw TokenizerFiles.Invalid(path, "chat_template", "lists entries that are not {\"name\": string, \"template\": string}");
            }

            if (name.GetString() == "default")
            {
                return template.GetString();
            }

            names.Add(name.GetString()!);
        }

        // transformers refuses to guess too: with several named templates and no default, the caller must choose.
        throw TokenizerFiles.Invalid(path, "chat_template", $"has named templates ({string.Join(", ", names)}) but none called 'default'");
    }
}
