using System.Collections;
using System.Globalization;
using System.Text.Json;

namespace LlavaModal.SemanticKernel.Settings;

/// <summary>
/// Reads one loosely typed setting value: settings arrive from prompt templates and JSON as <see cref="JsonElement"/>,
/// from YAML and configuration as strings, and from code as any numeric type. A value that cannot be read is an error
/// naming the key, never a silent default.
/// </summary>
static class SettingValue
{
    public static int? ToInt(string key, object? value) => ToDouble(key, value) switch
    {
        null => null,
        double d when d == Math.Floor(d) && d >= int.MinValue && d <= int.MaxValue => (int)d,
        var d => throw Invalid(key, d, "a whole number"),
    };

    public static long? ToLong(string key, object? value)
    {
        if (value is JsonElement { ValueKind: JsonValueKind.Number } j && j.TryGetInt64(out var exact)) return exact;
        if (value is long or int or short or ulong or uint) return Convert.ToInt64(value, CultureInfo.InvariantCulture);
        if (value is string s && long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed)) return parsed;
        return ToDouble(key, value) switch
        {
            null => null,
            double d when d == Math.Floor(d) && Math.Abs(d) < 9e15 => (long)d,
            var d => throw Invalid(key, d, "a whole number"),
        };
    }

    public static float? ToFloat(string key, object? value) => ToDouble(key, value) is { } d ? (float)d : null;

    public static double? ToDouble(string key, object? value)
    {
        switch (value)
        {
            case null: return null;
            case JsonElement j:
                return j.ValueKind switch
                {
                    JsonValueKind.Null or JsonValueKind.Undefined => null,
                    JsonValueKind.Number => j.GetDouble(),
                    JsonValueKind.String => Parse(key, j.GetString()),
                    _ => throw Invalid(key, j.GetRawText(), "a number"),
                };
            case string s: return Parse(key, s);
            case bool: throw Invalid(key, value, "a number");
            case IConvertible c:
                try { return c.ToDouble(CultureInfo.InvariantCulture); }
                catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException) { throw Invalid(key, value, "a number", e); }
            default: throw Invalid(key, value, "a number");
        }
    }

    /// <summary>Stop sequences: one string, a list of strings, or a JSON string or array.</summary>
    public static List<string>? ToStrings(string key, object? value)
    {
        switch (value)
        {
            case null: return null;
            case string s: return [s];
            case JsonElement { ValueKind: JsonValueKind.Null or JsonValueKind.Undefined }: return null;
            case JsonElement { ValueKind: JsonValueKind.String } j: return [j.GetString()!];
            case JsonElement { ValueKind: JsonValueKind.Array } j:
                return j.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw Invalid(key, j.GetRawText(), "a list of strings")).ToList();
            case IEnumerable items:
                return items.Cast<object?>().Select(i => i switch
                {
                    string s => s,
                    JsonElement { ValueKind: JsonValueKind.String } e => e.GetString()!,
                    _ => throw Invalid(key, value, "a list of strings"),
                }).ToList();
            default: throw Invalid(key, value, "a string or a list of strings");
        }
    }

    static double? Parse(string key, string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        return double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)
            ? d
            : throw Invalid(key, text, "a number");
    }

    static ArgumentException Invalid(string key, object? value, string expected, Exception? inner = null) =>
        new($"Execution setting '{key}' must be {expected}; got {Describe(value)}.", key, inner);

    static string Describe(object? value) => value switch
    {
        string s => $"\"{s}\"",
        double d => d.ToString(CultureInfo.InvariantCulture),
        _ => $"{value} ({value?.GetType().Name})",
    };
}
