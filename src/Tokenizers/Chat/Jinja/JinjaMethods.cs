namespace LlavaModal.Tokenizers.Chat.Jinja;

/// <summary>
/// Methods templates call on values: Python's <c>str</c> methods, <c>dict.get/items/keys/values</c>, and the read-only
/// <c>list</c> ones. Mutating methods (<c>append</c>, <c>pop</c>, <c>update</c>...) are refused, as transformers'
/// immutable sandbox refuses them.
/// </summary>
static class JinjaMethods
{
    static readonly HashSet<string> Mutating = ["append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse", "update", "setdefault", "popitem"];

    /// <summary>The bound method <paramref name="name"/> of <paramref name="target"/>, or null when it has none.</summary>
    public static JinjaFunction? Find(object? target, string name, int position) => target switch
    {
        string s => StringMethod(s, name),
        JinjaDict dict => DictMethod(dict, name, position),
        List<object?> or object?[] => SequenceMethod(JinjaOps.AsSequence(target)!, name, position),
        _ => null,
    };

    static string Str(JinjaArguments args, int index, string name, string? fallback = null) =>
        args.Get(index, name, fallback) switch
        {
            string s => s,
            null when fallback is null => throw new JinjaException(args.Position, $"argument '{name}' is required"),
            var other => other is null ? fallback! : throw new JinjaException(args.Position, $"argument '{name}' must be str, not {JinjaOps.TypeName(other)}"),
        };

    static string? OptionalStr(JinjaArguments args, int index, string name) =>
        args.Get(index, name) switch
        {
            null or Undefined => null,
            string s => s,
            var other => throw new JinjaException(args.Position, $"argument '{name}' must be str or None, not {JinjaOps.TypeName(other)}"),
        };

    static JinjaFunction? StringMethod(string s, string name)
    {
        Func<JinjaArguments, object?>? body = name switch
        {
            "strip" => a => JinjaStrings.Strip(s, OptionalStr(a, 0, "chars")),
            "lstrip" => a => JinjaStrings.Strip(s, OptionalStr(a, 0, "chars"), right: false),
            "rstrip" => a => JinjaStrings.Strip(s, OptionalStr(a, 0, "chars"), left: false),
            "split" => a => JinjaStrings.Split(s, OptionalStr(a, 0, "sep"), JinjaOps.ToLong(a.Get(1, "maxsplit", -1L)), a.Position),
            "upper" => _ => s.ToUpperInvariant(),
            "lower" => _ => s.ToLowerInvariant(),
            "title" => _ => JinjaStrings.PythonTitle(s),
            "capitalize" => _ => JinjaStrings.Capitalize(s),
            "replace" => a => JinjaStrings.Replace(s, Str(a, 0, "old"), Str(a, 1, "new"), JinjaOps.ToLong(a.Get(2, "count", -1L))),
            "startswith" => a => Affix(a, prefix => s.StartsWith(prefix, StringComparison.Ordinal)),
            "endswith" => a => Affix(a, suffix => s.EndsWith(suffix, StringComparison.Ordinal)),
            "find" => a => (long)s.IndexOf(Str(a, 0, "sub"), StringComparison.Ordinal),
            "rfind" => a => (long)s.LastIndexOf(Str(a, 0, "sub"), StringComparison.Ordinal),
            "count" => a => (long)CountOf(s, Str(a, 0, "sub")),
            "join" => a => string.Join(s, JinjaOps.Iterate(a.Get(0, "iterable"), a.Position).Select(x => x as string
                ?? throw new JinjaException(a.Position, $"sequence item: expected str instance, {JinjaOps.TypeName(x)} found"))),
            "format" => a => JinjaStrings.Format(s, a),
            "splitlines" => _ => s.Split('\n').Select(l => (object?)l.TrimEnd('\r')).Take(s.EndsWith('\n') ? s.Split('\n').Length - 1 : int.MaxValue).ToList(),
            "isdigit" => _ => s.Length > 0 && s.All(char.IsDigit),
            "isalpha" => _ => s.Length > 0 && s.All(char.IsLetter),
            "isspace" => _ => s.Length > 0 && s.All(JinjaStrings.IsPythonSpace),
            "islower" => _ => s.Any(char.IsLetter) && !s.Any(char.IsUpper),
            "isupper" => _ => s.Any(char.IsLetter) && !s.Any(char.IsLower),
            _ => null,
        };
        return body is null ? null : new JinjaFunction($"str.{name}", body);

        bool Affix(JinjaArguments a, Func<string, bool> test) => a.Get(0, "prefix") switch
        {
            string one => test(one),
            object?[] many => many.Any(x => x is string t && test(t)),
            var other => throw new JinjaException(a.Position, $"{name} first arg must be str or a tuple of str, not {JinjaOps.TypeName(other)}"),
        };
    }

    static int CountOf(string s, string sub)
    {
        if (sub.Length == 0)
        {
            return s.Length + 1;
        }

        int count = 0;
        for (int at = s.IndexOf(sub, StringComparison.Ordinal); at >= 0; at = s.IndexOf(sub, at + sub.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    static JinjaFunction? DictMethod(JinjaDict dict, string name, int position)
    {
        if (Mutating.Contains(name))
        {
            return Refused("dict", name, position);
        }

        Func<JinjaArguments, object?>? body = name switch
        {
            "get" => a => a.Get(0, "key") is { } key and not Undefined && dict.TryGetValue(key, out object? value) ? value : a.Get(1, "default"),
            "items" => _ => dict.Select(kv => (object?)new object?[] { kv.Key, kv.Value }).ToList(),
            "keys" => _ => dict.Keys.Cast<object?>().ToList(),
            "values" => _ => dict.Values.ToList(),
            _ => null,
        };
        return body is null ? null : new JinjaFunction($"dict.{name}", body);
    }

    static JinjaFunction? SequenceMethod(IReadOnlyList<object?> items, string name, int position)
    {
        if (Mutating.Contains(name))
        {
            return Refused("list", name, position);
        }

        Func<JinjaArguments, object?>? body = name switch
        {
            "index" => a =>
            {
                object? wanted = a.Get(0, "value");
                for (int i = 0; i < items.Count; i++)
                {
                    if (JinjaOps.Equal(items[i], wanted))
                    {
                        return (long)i;
                    }
                }

                throw new JinjaException(a.Position, $"{JinjaOps.Repr(wanted)} is not in list");
            },
            "count" => a => (long)items.Count(x => JinjaOps.Equal(x, a.Get(0, "value"))),
            _ => null,
        };
        return body is null ? null : new JinjaFunction($"list.{name}", body);
    }

    static JinjaFunction Refused(string type, string name, int position) =>
        new($"{type}.{name}", _ => throw new JinjaException(position, $"{type}.{name}() would modify a value; chat templates run in an immutable sandbox (use namespace() for state)"));
}
