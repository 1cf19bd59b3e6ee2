using System.Globalization;
using System.Text;

namespace LlavaModal.Tokenizers.Chat.Jinja;

/// <summary>
/// The <c>tojson</c> filter as transformers defines it for chat templates: Python's
/// <c>json.dumps(value, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)</c> (not Jinja's
/// HTML-safe one): <c>", "</c> / <c>": "</c> separators without indent, <c>","</c> / <c>": "</c> with it.
/// </summary>
static class JinjaJson
{
    /// <summary>A JSON value as template data, as Python's <c>json.loads</c> gives it (integers stay int, other numbers float).</summary>
    public static object? FromJson(System.Text.Json.JsonElement json) => json.ValueKind switch
    {
        System.Text.Json.JsonValueKind.Object => json.EnumerateObject().Aggregate(new JinjaDict(), (d, p) =>
        {
            d[p.Name] = FromJson(p.Value);
            return d;
        }),
        System.Text.Json.JsonValueKind.Array => json.EnumerateArray().Select(FromJson).ToList(),
        System.Text.Json.JsonValueKind.String => json.GetString(),
        System.Text.Json.JsonValueKind.Number => json.TryGetInt64(out long l) && !json.GetRawText().AsSpan().ContainsAny(".eE") ? (object)l : json.GetDouble(),
        System.Text.Json.JsonValueKind.True => true,
        System.Text.Json.JsonValueKind.False => false,
        _ => null,
    };

    public static string Serialize(object? value, bool ensureAscii, int? indent, string? itemSeparator, string? keySeparator, bool sortKeys, int position)
    {
        var sb = new StringBuilder();
        itemSeparator ??= indent is null ? ", " : ",";
        keySeparator ??= ": ";
        Write(sb, value, indent, itemSeparator, keySeparator, sortKeys, 0, position);
        return ensureAscii ? AsciiOnly(sb.ToString()) : sb.ToString();
    }

    static void Write(StringBuilder sb, object? value, int? indent, string itemSep, string keySep, bool sortKeys, int depth, int position)
    {
        switch (value)
        {
            case null:
                sb.Append("null");
                return;
            case Undefined u:
                throw new JinjaException(position, $"tojson cannot serialize an undefined value ({u.Description})");
            case bool b:
                sb.Append(b ? "true" : "false");
                return;
            case long l:
                sb.Append(l.ToString(CultureInfo.InvariantCulture));
                return;
            case double d:
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsInfinity(d) ? (d > 0 ? "Infinity" : "-Infinity") : JinjaOps.FloatRepr(d));
                return;
            case string s:
                WriteString(sb, s);
                return;
            case JinjaDict dict:
            {
                IEnumerable<KeyValuePair<object, object?>> entries = sortKeys
                    ? dict.OrderBy(kv => KeyString(kv.Key, position), StringComparer.Ordinal)
                    : dict;
                WriteContainer(sb, '{', '}', entries.ToList(), indent, itemSep, depth, (kv, d) =>
                {
                    WriteString(sb, KeyString(kv.Key, position));
                    sb.Append(keySep);
                    Write(sb, kv.Value, indent, itemSep, keySep, sortKeys, d, position);
                });
                return;
            }

            case JinjaNamespace ns:
            {
                var dict = new JinjaDict();
                foreach ((string k, object? v) in ns.Attributes)
                {
                    dict[k] = v;
                }

                Write(sb, dict, indent, itemSep, keySep, sortKeys, depth, position);
                return;
            }

            default:
                if (JinjaOps.AsSequence(value) is { } items)
                {
                    WriteContainer(sb, '[', ']', items.ToList(), indent, itemSep, depth, (item, d) => Write(sb, item, indent, itemSep, keySep, sortKeys, d, position));
                    return;
                }

                throw new JinjaException(position, $"Object of type {JinjaOps.TypeName(value)} is not JSON serializable");
        }
    }

    static void WriteContainer<T>(StringBuilder sb, char open, char close, List<T> items, int? indent, string itemSep, int depth, Action<T, int> writeItem)
    {
        sb.Append(open);
        if (items.Count == 0)
        {
            sb.Append(close);
            return;
        }

        string? inner = indent is int n ? "\n" + new string(' ', n * (depth + 1)) : null;
        for (int i = 0; i < items.Count; i++)
        {
            if (i > 0)
            {
                sb.Append(itemSep);
            }

            sb.Append(inner);
            writeItem(items[i], depth + 1);
        }

        if (indent is int m)
        {
            sb.Append('\n').Append(' ', m * depth);
        }

        sb.Append(close);
    }

    static string KeyString(object key, int position) => key switch
    {
        string s => s,
        bool b => b ? "true" : "false",
        long or double => JinjaOps.Repr(key),
        _ => throw new JinjaException(position, $"keys must be str, int, float or bool, not {JinjaOps.TypeName(key)}"),
    };

    /// <summary><c>ensure_ascii=True</c>: every non-ASCII UTF-16 unit as <c>\uXXXX</c> (only strings can hold them).</summary>
    static string AsciiOnly(string json)
    {
        var sb = new StringBuilder(json.Length);
        foreach (char c in json)
        {
            if (c < 0x80)
            {
                sb.Append(c);
            }
            else
            {
                sb.Append($"\\u{(int)c:x4}");
            }
        }

        return sb.ToString();
    }

    /// <summary>Python's JSON string escaping with <c>ensure_ascii=False</c>: quotes, backslash and control characters only.</summary>
    static void WriteString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20)
                    {
                        sb.Append($"\\u{(int)c:x4}");
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        sb.Append('"');
    }
}
