using System.Text.Json;

namespace LlavaModal.Abstractions.Configuration;

/// <summary>
/// Typed access to a Hugging Face <c>config.json</c> object that names the file and the full key in every error,
/// fills documented defaults for absent keys and ignores keys it is not asked about.
/// </summary>
public sealed class JsonConfig
{
    readonly JsonElement element;

    JsonConfig(string path, string prefix, JsonElement element)
    {
        Path = path;
        Prefix = prefix;
        this.element = element;
    }

    /// <summary>The file the object came from.</summary>
    public string Path { get; }

    /// <summary>Dotted prefix of nested objects (<c>text_config.</c>), empty at the top.</summary>
    public string Prefix { get; }

    /// <summary>Reads and parses <paramref name="path"/>.</summary>
    /// <exception cref="ConfigException">Missing file or invalid JSON (key <c>(file)</c>).</exception>
    public static JsonConfig Load(string path)
    {
        if (!File.Exists(path)) throw new ConfigException(path, "(file)", "file not found.");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new ConfigException(path, "(root)", "expected a JSON object.");
            return new JsonConfig(path, "", doc.RootElement.Clone());
        }
        catch (JsonException e) { throw new ConfigException(path, "(file)", $"not valid JSON: {e.Message}", e); }
    }

    /// <summary>Wraps an already parsed object (for configs that are not files, e.g. tests).</summary>
    public static JsonConfig FromJson(string json, string path = "<inline>")
    {
        using var doc = JsonDocument.Parse(json);
        return new JsonConfig(path, "", doc.RootElement.Clone());
    }

    /// <summary>True when the key is present and not null.</summary>
    public bool Has(string key) => element.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null;

    /// <summary>True when the key is present with the value null, which differs from absent where the class default is not null (Qwen2's <c>sliding_window</c>).</summary>
    public bool IsNull(string key) => element.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Null;

    /// <summary>A nested object (<c>text_config</c>); an absent key gives an empty object, so class defaults apply.</summary>
    public JsonConfig Section(string key)
    {
        if (!element.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null)
            return new JsonConfig(Path, Prefix + key + ".", JsonDocument.Parse("{}").RootElement.Clone());
        if (v.ValueKind != JsonValueKind.Object) throw Error(key, $"expected an object, got {v.ValueKind}.");
        return new JsonConfig(Path, Prefix + key + ".", v);
    }

    /// <summary>An integer, or <paramref name="fallback"/> when absent; no fallback means required.</summary>
    public int Int(string key, int? fallback = null) => (int)Long(key, fallback);

    /// <summary>A 64-bit integer, or <paramref name="fallback"/> when absent.</summary>
    public long Long(string key, long? fallback = null)
    {
        if (!TryGet(key, out var v)) return fallback ?? throw Missing(key);
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n)) return n;
        // Python writes 16000.0 for floats that hold integers.
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var x) && x == Math.Floor(x) && Math.Abs(x) <= long.MaxValue / 2) return (long)x;
        throw Error(key, $"expected an integer, got {v.GetRawText()}.");
    }

    /// <summary>An optional integer (absent or null gives null).</summary>
    public int? OptionalInt(string key) => TryGet(key, out _) ? Int(key) : null;

    /// <summary>A number, or <paramref name="fallback"/> when absent.</summary>
    public double Double(string key, double? fallback = null)
    {
        if (!TryGet(key, out var v)) return fallback ?? throw Missing(key);
        if (v.ValueKind == JsonValueKind.Number) return v.GetDouble();
        throw Error(key, $"expected a number, got {v.GetRawText()}.");
    }

    /// <summary>A boolean, or <paramref name="fallback"/> when absent.</summary>
    public bool Bool(string key, bool? fallback = null)
    {
        if (!TryGet(key, out var v)) return fallback ?? throw Missing(key);
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error(key, $"expected true or false, got {v.GetRawText()}."),
        };
    }

    /// <summary>A string, or <paramref name="fallback"/> when absent.</summary>
    public string String(string key, string? fallback = null)
    {
        if (!TryGet(key, out var v)) return fallback ?? throw Missing(key);
        if (v.ValueKind == JsonValueKind.String) return v.GetString()!;
        throw Error(key, $"expected a string, got {v.GetRawText()}.");
    }

    /// <summary>An optional string (absent or null gives null).</summary>
    public string? OptionalString(string key) => TryGet(key, out _) ? String(key) : null;

    /// <summary>An integer or a list of integers (e.g. <c>eos_token_id</c>); absent gives an empty list.</summary>
    public IReadOnlyList<int> IntOrList(string key)
    {
        if (!TryGet(key, out var v)) return [];
        if (v.ValueKind == JsonValueKind.Number) return [Int(key)];
        if (v.ValueKind == JsonValueKind.Array)
            return v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var n) ? n
                : throw Error(key, $"expected integers, got {v.GetRawText()}.")).ToList();
        throw Error(key, $"expected an integer or a list of integers, got {v.GetRawText()}.");
    }

    /// <summary>A list of numbers; absent gives <paramref name="fallback"/> (required when null).</summary>
    public double[] Doubles(string key, double[]? fallback = null)
    {
        if (!TryGet(key, out var v)) return fallback ?? throw Missing(key);
        if (v.ValueKind == JsonValueKind.Number) return [v.GetDouble()];
        if (v.ValueKind != JsonValueKind.Array) throw Error(key, $"expected a list of numbers, got {v.GetRawText()}.");
        return v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number ? e.GetDouble()
            : throw Error(key, $"expected numbers, got {v.GetRawText()}.")).ToArray();
    }

    /// <summary>The raw element of a key, for shapes this helper does not cover.</summary>
    public bool TryGet(string key, out JsonElement value)
    {
        if (element.TryGetProperty(key, out value) && value.ValueKind != JsonValueKind.Null) return true;
        value = default;
        return false;
    }

    /// <summary>An error naming this file and the full key.</summary>
    public ConfigException Error(string key, string message) => new(Path, Prefix + key, message);

    ConfigException Missing(string key) => Error(key, "required but missing.");
}
