using System.Globalization;

namespace LlavaModal.Tokenizers.Chat.Jinja;

/// <summary>
/// Jinja's built-in filters that chat templates use, with Jinja 3's behaviour (and transformers' own <c>tojson</c>).
/// An unknown filter is an error, never a silent pass-through.
/// </summary>
static class JinjaFilters
{
    public static object? Apply(string name, object? value, JinjaArguments args)
    {
        int position = args.Position;
        switch (name)
        {
            case "trim":
                return JinjaStrings.Strip(JinjaOps.ToStr(value), args.Get(0, "chars") as string);
            case "tojson":
                // transformers' own signature: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
                return JinjaJson.Serialize(value, JinjaOps.IsTrue(args.Get(0, "ensure_ascii", false)),
                    args.Get(1, "indent") is long indent ? (int)indent : null,
                    Separator(args, 0), Separator(args, 1), JinjaOps.IsTrue(args.Get(3, "sort_keys", false)), position);
            case "length" or "count":
                return JinjaOps.Length(value, position);
            case "upper":
                return JinjaOps.ToStr(value).ToUpperInvariant();
            case "lower":
                return JinjaOps.ToStr(value).ToLowerInvariant();
            case "title":
                return JinjaStrings.JinjaTitle(JinjaOps.ToStr(value));
            case "capitalize":
                return JinjaStrings.Capitalize(JinjaOps.ToStr(value));
            case "replace":
                return JinjaStrings.Replace(JinjaOps.ToStr(value), JinjaOps.ToStr(args.Get(0, "old")), JinjaOps.ToStr(args.Get(1, "new")),
                    args.Get(2, "count") is long count ? count : -1);
            case "join":
            {
                IEnumerable<object?> items = JinjaOps.Iterate(value, position);
                if (args.Get(1, "attribute") is string attribute)
                {
                    items = items.Select(x => JinjaInterpreter.GetAttributePath(x, attribute, position));
                }

                return string.Join(JinjaOps.ToStr(args.Get(0, "d", string.Empty)), items.Select(JinjaOps.ToStr));
            }

            case "first":
                return JinjaOps.Iterate(value, position) is { Count: > 0 } f ? f[0] : new Undefined("no first item, the sequence is empty");
            case "last":
                return JinjaOps.Iterate(value, position) is { Count: > 0 } lastItems ? lastItems[^1] : new Undefined("no last item, the sequence is empty");
            case "default" or "d":
            {
                bool boolean = JinjaOps.IsTrue(args.Get(1, "boolean", false));
                return value is Undefined || (boolean && !JinjaOps.IsTrue(value)) ? args.Get(0, "default_value", string.Empty) : value;
            }

            case "string":
                return JinjaOps.ToStr(value);
            case "int":
                return ToInt(value, args.Get(0, "default", 0L));
            case "float":
                return ToFloat(value, args.Get(0, "default", 0.0));
            case "abs":
                return value switch
                {
                    long l => (object)Math.Abs(l),
                    double d => Math.Abs(d),
                    bool b => b ? 1L : 0L,
                    _ => throw new JinjaException(position, $"bad operand type for abs(): '{JinjaOps.TypeName(value)}'"),
                };
            case "round":
            {
                int precision = (int)JinjaOps.ToLong(args.Get(0, "precision", 0L));
                string method = JinjaOps.ToStr(args.Get(1, "method", "common"));
                double x = JinjaOps.ToDouble(value), scale = Math.Pow(10, precision);
                return method switch
                {
                    "common" => Math.Round(x * scale, MidpointRounding.ToEven) / scale, // Python's round(): halves to even
                    "ceil" => Math.Ceiling(x * scale) / scale,
                    "floor" => Math.Floor(x * scale) / scale,
                    _ => throw new JinjaException(position, "round's method must be 'common', 'ceil' or 'floor'"),
                };
            }

            case "list":
                return JinjaOps.Iterate(value, position);
            case "items":
                return value switch
                {
                    JinjaDict dict => dict.Select(kv => (object?)new object?[] { kv.Key, kv.Value }).ToList(),
                    Undefined => new List<object?>(),
                    _ => throw new JinjaException(position, $"the items filter needs a mapping, not {JinjaOps.TypeName(value)}"),
                };
            case "selectattr" or "rejectattr":
                return SelectOrReject(value, args, byAttribute: true, keep: name == "selectattr");
            case "select" or "reject":
                return SelectOrReject(value, args, byAttribute: false, keep: name == "select");
            case "map":
                return Map(value, args);
            case "safe":
                return value;
            case "escape" or "e" or "forceescape":
                return Escape(JinjaOps.ToStr(value));
            case "reverse":
                return value is string s ? string.Concat(JinjaOps.Characters(s).Reverse()) : Enumerable.Reverse(JinjaOps.Iterate(value, position)).ToList();
            case "unique":
            {
                var seen = new List<object?>();
                foreach (object? item in JinjaOps.Iterate(value, position))
                {
                    if (!seen.Any(x => JinjaOps.Equal(Folded(x), Folded(item))))
                    {
                        seen.Add(item);
                    }
                }

                return seen;
            }

            case "sort":
            {
                bool reverse = JinjaOps.IsTrue(args.Get(0, "reverse", false));
                bool caseSensitive = JinjaOps.IsTrue(args.Get(1, "case_sensitive", false));
                string? attribute = args.Get(2, "attribute") as string;
                List<object?> items = JinjaOps.Iterate(value, position);
                object? Key(object? x)
                {
                    object? k = attribute is null ? x : JinjaInterpreter.GetAttributePath(x, attribute, position);
                    return caseSensitive ? k : Folded(k);
                }

                List<object?> sorted = [.. items.Order(Comparer<object?>.Create((a, b) => JinjaOps.Compare(Key(a), Key(b), "<", position)))];
                if (reverse)
                {
                    sorted.Reverse();
                }

                return sorted;
            }

            case "sum":
            {
                object? total = args.Get(1, "start", 0L);
                string? attribute = args.Get(0, "attribute") as string;
                foreach (object? item in JinjaOps.Iterate(value, position))
                {
                    total = JinjaOps.Arithmetic("+", total, attribute is null ? item : JinjaInterpreter.GetAttributePath(item, attribute, position), position);
                }

                return total;
            }

            case "min" or "max":
            {
                List<object?> items = JinjaOps.Iterate(value, position);
                if (items.Count == 0)
                {
                    return new Undefined($"{name} of an empty sequence");
                }

                int sign = name == "min" ? -1 : 1;
                return items.Aggregate((a, b) => JinjaOps.Compare(Folded(b), Folded(a), "<", position) * sign > 0 ? b : a);
            }

            case "indent":
            {
                string text = JinjaOps.ToStr(value);
                string pad = args.Get(0, "width", 4L) is string w ? w : new string(' ', (int)JinjaOps.ToLong(args.Get(0, "width", 4L)));
                bool first = JinjaOps.IsTrue(args.Get(1, "first", false));
                bool blank = JinjaOps.IsTrue(args.Get(2, "blank", false));
                string[] lines = text.Split('\n');
                for (int i = 0; i < lines.Length; i++)
                {
                    if ((i > 0 || first) && (blank || lines[i].Trim().Length > 0))
                    {
                        lines[i] = pad + lines[i];
                    }
                }

                return string.Join("\n", lines);
            }

            case "wordcount":
                return (long)JinjaStrings.Split(JinjaOps.ToStr(value), null, -1, position).Count;
            case "center":
            {
                string text = JinjaOps.ToStr(value);
                int width = (int)JinjaOps.ToLong(args.Get(0, "width", 80L));
                int total = Math.Max(0, width - text.Length), left = (total / 2) + (total & width & 1);
                return new string(' ', left) + text + new string(' ', total - left);
            }

            case "dictsort":
                return value is JinjaDict sortable
                    ? sortable.OrderBy(kv => kv.Key, Comparer<object>.Create((a, b) => JinjaOps.Compare(Folded(a), Folded(b), "<", position)))
                        .Select(kv => (object?)new object?[] { kv.Key, kv.Value }).ToList()
                    : throw new JinjaException(position, "dictsort needs a mapping");
            default:
                throw new JinjaException(position, $"no filter named '{name}'");
        }
    }

    /// <summary>markupsafe's escaping: the five HTML-special characters.</summary>
    static string Escape(string s) => s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal)
        .Replace(">", "&gt;", StringComparison.Ordinal).Replace("\"", "&#34;", StringComparison.Ordinal).Replace("'", "&#39;", StringComparison.Ordinal);

    static string? Separator(JinjaArguments args, int which) =>
        args.Get(2, "separators") is { } separators && JinjaOps.AsSequence(separators) is { Count: 2 } pair ? JinjaOps.ToStr(pair[which]) : null;

    /// <summary>Jinja compares strings case-insensitively in sort/unique/min/max unless asked otherwise.</summary>
    static object? Folded(object? value) => value is string s ? s.ToLowerInvariant() : value;

    static object? ToInt(object? value, object? fallback) => value switch
    {
        long l => l,
        bool b => b ? 1L : 0L,
        double d => (long)Math.Truncate(d),
        string s when long.TryParse(s.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long parsed) => parsed,
        string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) => (long)Math.Truncate(parsed),
        _ => fallback,
    };

    static object? ToFloat(object? value, object? fallback) => value switch
    {
        double d => d,
        long l => (double)l,
        bool b => b ? 1.0 : 0.0,
        string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) => parsed,
        _ => fallback,
    };

    static List<object?> SelectOrReject(object? value, JinjaArguments args, bool byAttribute, bool keep)
    {
        int position = args.Position;
        int testIndex = byAttribute ? 1 : 0;
        string? attribute = byAttribute ? JinjaOps.ToStr(args.Get(0, "attr")) : null;
        string? test = args.Positional.Count > testIndex ? JinjaOps.ToStr(args.Positional[testIndex]) : null;
        List<object?> testArgs = args.Positional.Skip(testIndex + 1).ToList();
        var result = new List<object?>();
        foreach (object? item in JinjaOps.Iterate(value, position))
        {
            object? subject = attribute is null ? item : JinjaInterpreter.GetAttributePath(item, attribute, position);
            bool passes = test is null ? JinjaOps.IsTrue(subject) : JinjaTests.Apply(test, subject, testArgs, position);
            if (passes == keep)
            {
                result.Add(item);
            }
        }

        return result;
    }

    static List<object?> Map(object? value, JinjaArguments args)
    {
        int position = args.Position;
        List<object?> items = JinjaOps.Iterate(value, position);
        if (args.Keywords.TryGetValue("attribute", out object? attribute))
        {
            bool hasDefault = args.Keywords.TryGetValue("default", out object? fallback);
            return items.Select(x =>
            {
                object? v = JinjaInterpreter.GetAttributePath(x, JinjaOps.ToStr(attribute), position);
                return v is Undefined && hasDefault ? fallback : v;
            }).ToList();
        }

        if (args.Positional.Count == 0)
        {
            throw new JinjaException(position, "map needs a filter name or attribute=");
        }

        string filter = JinjaOps.ToStr(args.Positional[0]);
        var rest = new JinjaArguments(args.Positional.Skip(1).ToList(), args.Keywords, position);
        return items.Select(x => Apply(filter, x, rest)).ToList();
    }
}
