using System.Text.Json;
using LlavaModal.Abstractions.IO;

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

    /// <summary>Largest config file read: 64 MiB (real ones are kilobytes; an index of a huge model is a few MB).</summary>
    public const long MaxFileBytes = 64L << 20;

    /// <summary>Reads and parses <paramref name="path"/> (a regular file of at most <see cref="MaxFileBytes"/>).</summary>
    /// <exception cref="ConfigException">Missing file, not a regular file, too large, or invalid JSON (key <c>(file)</c>).</exception>
    public static JsonConfig Load(string path)
    {
        var bytes = InputFiles.ReadAllBytes(path, MaxFileBytes, "JsonConfig.MaxFileBytes", message => new ConfigException(path, "(file)", message));
        // The parser checks structure only; a string that is not UTF-8 would fail untyped when first read.
        if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new ConfigException(path, "(file)", "not valid UTF-8 text.");
        try
        {
            using var doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
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
    /// <exception cref="ConfigException">Not an integer, or outside the 32-bit range (never truncated).</exception>
    public int Int(string key, int? fallback = null)
    {
        long value = Long(key, fallback);
        return value is >= int.MinValue and <= int.MaxValue ? (int)value
            : throw Error(key, $"{value} is outside the 32-bit integer range [{int.MinValue}, {int.MaxValue}].");
    }

    /// <summary>A 64-bit integer, or <paramref name="fallback"/> when absent.</summary>
    public long Long(string key, long? fallback = null)
    {
        if (!TryGet(key, out var v)) return fallback ?? throw Missing(key);
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n)) return n;
        // Python writes 16000.0 for floats that hold integers.
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var x) && double.IsFinite(x) && x == Math.Floor(x) && Math.Abs(x) <= long.MaxValue / 2) return (long)x;
        throw Error(key, $"expected an integer, got {v.GetRawText()}.");
    }

    /// <summary>An optional integer (absent or null gives null).</summary>
    public int? OptionalInt(string key) => TryGet(key, out _) ? Int(key) : null;

    /// <summary>A number, or <paramref name="fallback"/> when absent.</summary>
    public double Double(string key, double? fallback = null)
    {
        if (!TryGet(key, out var v)) return fallback ?? throw Missing(key);
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var x) && double.IsFinite(x)) return x;
        throw Error(key, $"expected a finite number, got {v.GetRawText()}.");
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
        if (v.ValueKind == JsonValueKind.Number) return [Double(key)];
        if (v.ValueKind != JsonValueKind.Array) throw Error(key, $"expected a list of numbers, got {v.GetRawText()}.");
        return v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out var x) && double.IsFinite(x) ? x
            : throw Error(key, $"expected finite numbers, got {v.GetRawText()}.")).ToArray();
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
