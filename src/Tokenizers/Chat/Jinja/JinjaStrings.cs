using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace LlavaModal.Tokenizers.Chat.Jinja;

/// <summary>Python's <c>str</c> methods that chat templates call (<c>content.strip()</c>, <c>role.upper()</c>, ...), with Python's results.</summary>
static partial class JinjaStrings
{
    /// <summary>Python's <c>str.isspace</c> characters (Unicode whitespace plus the separators U+001C..U+001F).</summary>
    public static bool IsPythonSpace(char c) => char.IsWhiteSpace(c) || c is >= '\u001c' and <= '\u001f';

    public static string Strip(string s, string? chars, bool left = true, bool right = true)
    {
        Func<char, bool> strip = chars is null ? IsPythonSpace : c => chars.Contains(c);
        int start = 0, end = s.Length;
        while (left && start < end && strip(s[start]))
        {
            start++;
        }

        while (right && end > start && strip(s[end - 1]))
        {
            end--;
        }

        return s[start..end];
    }

    /// <summary>Python's <c>str.split(sep, maxsplit)</c>: without a separator, runs of whitespace split and ends are dropped.</summary>
    public static List<object?> Split(string s, string? separator, long maxSplit, int position)
    {
        var parts = new List<object?>();
        if (separator is null)
        {
            int i = 0;
            while (true)
            {
                while (i < s.Length && IsPythonSpace(s[i]))
                {
                    i++;
                }

                if (i >= s.Length)
                {
                    return parts;
                }

                if (maxSplit >= 0 && parts.Count == maxSplit)
                {
                    parts.Add(Strip(s[i..], null, left: false));
                    return parts;
                }

                int start = i;
                while (i < s.Length && !IsPythonSpace(s[i]))
                {
                    i++;
                }

                parts.Add(s[start..i]);
            }
        }

        if (separator.Length == 0)
        {
            throw new JinjaException(position, "empty separator");
        }

        int from = 0;
        while (maxSplit < 0 || parts.Count < maxSplit)
        {
            int at = s.IndexOf(separator, from, StringComparison.Ordinal);
            if (at < 0)
            {
                break;
            }

            parts.Add(s[from..at]);
            from = at + separator.Length;
        }

        parts.Add(s[from..]);
        return parts;
    }

    /// <summary>Python's <c>str.title()</c>: a letter after a non-letter is upper case, other letters lower case.</summary>
    public static string PythonTitle(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousCased = false;
        foreach (char c in s)
        {
            sb.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousCased = char.IsLetter(c);
        }

        return sb.ToString();
    }

    /// <summary>Jinja's <c>title</c> filter: words start after spaces, dashes and opening brackets.</summary>
    public static string JinjaTitle(string s) =>
        string.Concat(WordBeginning().Split(s).Where(p => p.Length > 0)
            .Select(p => char.ToUpperInvariant(p[0]) + p[1..].ToLowerInvariant()));

    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    /// <summary>Python's <c>str.replace(old, new, count)</c>, including the empty-pattern case.</summary>
    public static string Replace(string s, string old, string replacement, long count)
    {
        if (count < 0)
        {
            return old.Length == 0 ? replacement + string.Join(replacement, s.Select(c => c.ToString())) + (s.Length > 0 ? replacement : string.Empty) : s.Replace(old, replacement, StringComparison.Ordinal);
        }

        var sb = new StringBuilder();
        int from = 0;
        for (long n = 0; n < count; n++)
        {
            int at = s.IndexOf(old, from, StringComparison.Ordinal);
            if (at < 0 || old.Length == 0)
            {
                break;
            }

            sb.Append(s, from, at - from).Append(replacement);
            from = at + old.Length;
        }

        return sb.Append(s, from, s.Length - from).ToString();
    }

    /// <summary>Python's <c>str.format</c> for <c>{}</c>, <c>{0}</c> and <c>{name}</c> fields (no format specs).</summary>
    public static string Format(string s, JinjaArguments args)
    {
        var sb = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c == '{' && i + 1 < s.Length && s[i + 1] == '{')
            {
                sb.Append('{');
                i++;
                continue;
            }

            if (c == '}' && i + 1 < s.Length && s[i + 1] == '}')
            {
                sb.Append('}');
                i++;
                continue;
            }

            if (c != '{')
            {
                sb.Append(c);
                continue;
            }

            int close = s.IndexOf('}', i);
            if (close < 0)
            {
                throw new JinjaException(args.Position, "Single '{' encountered in format string");
            }

            string field = s[(i + 1)..close];
            if (field.Contains(':') || field.Contains('!'))
            {
                throw new JinjaException(args.Position, $"format specifications ('{{{field}}}') are not supported by this chat template renderer");
            }

            object? value = field.Length == 0 ? Positional(auto++)
                : int.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out int index) ? Positional(index)
                : args.Keywords.TryGetValue(field, out object? named) ? named
                : throw new JinjaException(args.Position, $"KeyError: '{field}'");
            sb.Append(JinjaOps.ToStr(value));
            i = close;
        }

        return sb.ToString();

        object? Positional(int index) => index < args.Positional.Count
            ? args.Positional[index]
            : throw new JinjaException(args.Position, $"Replacement index {index} out of range for positional args tuple");
    }

    [GeneratedRegex(@"([-\s\(\{\[\<]+)")]
    private static partial Regex WordBeginning();
}
