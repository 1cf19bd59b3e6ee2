using System.Text.Json;
using LlavaModal.Decoder.Generation.Constraints;
using MEAI = Microsoft.Extensions.AI;

namespace LlavaModal.SemanticKernel.Settings;

/// <summary>
/// Reads the response formats callers write (OpenAI's <c>"json_object"</c> and <c>{"type":"json_schema",...}</c>,
/// a bare JSON schema, a .NET type, a Microsoft.Extensions.AI <see cref="MEAI.ChatResponseFormat"/>) into the one
/// stored form (the string <c>"text"</c> or <c>"json_object"</c>, or a schema <see cref="JsonElement"/>) and that into
/// an <see cref="OutputGrammar"/>.
/// </summary>
static class ResponseFormats
{
    public const string Text = "text";
    public const string JsonObject = "json_object";

    /// <summary>The stored form of <paramref name="format"/>.</summary>
    /// <exception cref="ArgumentException">A value that is none of the accepted forms.</exception>
    public static object? Normalize(object? format) => format switch
    {
        null => null,
        MEAI.ChatResponseFormatText => Text,
        MEAI.ChatResponseFormatJson { Schema: { } schema } => schema,
        MEAI.ChatResponseFormatJson => JsonObject,
        Type type => MEAI.AIJsonUtilities.CreateJsonSchema(type),
        string s when s.TrimStart().StartsWith('{') => Normalize(Parse(s)),
        string s => s is Text or JsonObject ? s : throw Invalid($"'{s}'"),
        JsonElement { ValueKind: JsonValueKind.String } e => Normalize(e.GetString()),
        JsonElement { ValueKind: JsonValueKind.Null } => null,
        JsonElement { ValueKind: JsonValueKind.Object } e => Unwrap(e),
        _ => throw Invalid($"a {format.GetType().Name}"),
    };

    /// <summary>The grammar of a stored format, or null for free text.</summary>
    /// <exception cref="NotSupportedException">The schema uses a keyword constrained decoding does not support.</exception>
    /// <exception cref="ArgumentException">The schema is malformed.</exception>
    public static OutputGrammar? ToGrammar(object? format) => Normalize(format) switch
    {
        JsonObject => OutputGrammar.JsonObject(),
        JsonElement schema => OutputGrammar.FromJsonSchema(schema),
        _ => null,
    };

    /// <summary>OpenAI's <c>{"type": "json_object" | "json_schema" | "text", ...}</c> wrapper, or a bare schema.</summary>
    static object? Unwrap(JsonElement format)
    {
        if (!format.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String) return format.Clone();
        switch (type.GetString())
        {
            case Text: return Text;
            case JsonObject: return JsonObject;
            case "json_schema":
                if (format.TryGetProperty("json_schema", out var wrapper) && wrapper.ValueKind == JsonValueKind.Object
                    && wrapper.TryGetProperty("schema", out var schema) && schema.ValueKind is JsonValueKind.Object or JsonValueKind.True)
                    return schema.Clone();
                throw new ArgumentException("response_format of type 'json_schema' needs 'json_schema.schema', the JSON schema itself.", "response_format");
            default: return format.Clone();
        }
    }

    static JsonElement Parse(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"response_format is not valid JSON: {e.Message}", "response_format", e);
        }
    }

    static ArgumentException Invalid(string what) =>
        new($"response_format is {what}; expected \"text\", \"json_object\", a JSON schema, {{\"type\": \"json_schema\", \"json_schema\": {{\"schema\": ...}}}}, a .NET type or a ChatResponseFormat.", "response_format");
}
