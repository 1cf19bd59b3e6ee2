using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace LlavaModal.Decoder.Generation.Constraints;

/// <summary>
/// Compiles JSON (RFC 8259) and JSON Schema into a byte <see cref="Grammar"/>: every output the grammar admits
/// parses, and with a schema validates. Strings are well-formed UTF-8 with no lone surrogate escapes; numbers are
/// bounded in digits so that they fit the usual .NET types; whitespace between tokens is bounded so that a model
/// cannot spend its budget on it.
/// </summary>
sealed class JsonSchemaGrammar
{
    const int MaxWhitespace = 16;
    const int DefaultIntegerDigits = 9;
    const int NumberDigits = 15;
    const int MaxUnrolled = 4096;

    static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Keywords that only annotate (or that this compiler honours elsewhere): accepted and otherwise ignored.</summary>
    static readonly HashSet<string> Annotations =
    [
        "$schema", "$id", "$comment", "$anchor", "title", "description", "default", "examples", "readOnly", "writeOnly",
        "deprecated", "format", "contentEncoding", "contentMediaType", "$defs", "definitions", "strict", "name",
    ];

    /// <summary>Keywords with a grammar here.</summary>
    static readonly HashSet<string> Handled =
    [
        "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const", "anyOf",
        "oneOf", "allOf", "$ref", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    ];

    readonly GrammarBuilder g = new();
    readonly JsonElement root;
    readonly Dictionary<string, int> refs = new(StringComparer.Ordinal);
    readonly int ws, value, str, chr, number, boolean, nul, anyObject, anyArray;

    JsonSchemaGrammar(JsonElement root)
    {
        this.root = root;
        var space = ByteSet.Of(" \t\n\r");
        ws = g.Repeat(space, 0, MaxWhitespace);
        chr = Character();
        str = g.Sequence("\"", g.Repeat(chr, 0, null), "\"");
        number = Number();
        boolean = g.Rule(["true"], ["false"]);
        nul = g.Sequence("null");
        value = g.Declare();
        anyObject = Members(str, value);
        anyArray = g.Sequence("[", ws, g.Optional(g.Sequence(g.Repeat(value, 1, null, g.Sequence(ws, ",", ws)), ws)), "]");
        g.Define(value, [anyObject], [anyArray], [str], [number], [boolean], [nul]);
    }

    /// <summary>Any JSON object.</summary>
    public static Grammar AnyObject()
    {
        var compiler = new JsonSchemaGrammar(default);
        return compiler.g.Build(compiler.anyObject);
    }

    /// <summary>JSON valid against <paramref name="schema"/>.</summary>
    public static Grammar FromSchema(JsonElement schema)
    {
        var compiler = new JsonSchemaGrammar(schema);
        return compiler.g.Build(compiler.Compile(schema, "#"));
    }

    int Compile(JsonElement schema, string path)
    {
        if (schema.ValueKind == JsonValueKind.True) return value;
        if (schema.ValueKind == JsonValueKind.False) throw Invalid(path, "is false: no value matches it");
        if (schema.ValueKind != JsonValueKind.Object) throw Invalid(path, $"is a {schema.ValueKind}, expected an object or a boolean");
        foreach (var keyword in schema.EnumerateObject())
        {
            if (!Handled.Contains(keyword.Name) && !Annotations.Contains(keyword.Name) && !keyword.Name.StartsWith("x-", StringComparison.Ordinal))
                throw new NotSupportedException($"The JSON schema keyword '{keyword.Name}' at '{path}' is not supported by constrained decoding.");
        }
        if (schema.TryGetProperty("$ref", out var reference)) return Reference(reference, path);
        if (schema.TryGetProperty("const", out var constant)) return g.Sequence(Literal(constant));
        if (schema.TryGetProperty("enum", out var options))
        {
            if (options.ValueKind != JsonValueKind.Array || options.GetArrayLength() == 0) throw Invalid(path + "/enum", "must be a non-empty array");
            return g.Rule([.. options.EnumerateArray().Select(o => new object[] { Literal(o) })]);
        }
        foreach (string combinator in (string[])["anyOf", "oneOf"])
        {
            if (!schema.TryGetProperty(combinator, out var alternatives)) continue;
            if (alternatives.ValueKind != JsonValueKind.Array || alternatives.GetArrayLength() == 0) throw Invalid($"{path}/{combinator}", "must be a non-empty array");
            return g.Rule([.. alternatives.EnumerateArray().Select((a, i) => new object[] { Compile(a, $"{path}/{combinator}/{i}") })]);
        }
        if (schema.TryGetProperty("allOf", out var all))
        {
            if (all.ValueKind != JsonValueKind.Array || all.GetArrayLength() != 1)
                throw new NotSupportedException($"'allOf' at '{path}' combines {(all.ValueKind == JsonValueKind.Array ? all.GetArrayLength() : 0)} schemas; constrained decoding supports allOf of exactly one.");
            return Compile(all[0], path + "/allOf/0");
        }
        var types = Types(schema, path);
        if (types.Count == 0) return value;
        return g.Rule([.. types.Select(t => new object[] { Typed(t, schema, path) })]);
    }

    /// <summary>The schema's types: its <c>type</c>, or the one its keywords imply, or none (any value).</summary>
    static List<string> Types(JsonElement schema, string path)
    {
        if (schema.TryGetProperty("type", out var type))
        {
            if (type.ValueKind == JsonValueKind.String) return [type.GetString()!];
            if (type.ValueKind == JsonValueKind.Array && type.GetArrayLength() > 0 && type.EnumerateArray().All(t => t.ValueKind == JsonValueKind.String))
                return [.. type.EnumerateArray().Select(t => t.GetString()!).Distinct()];
            throw Invalid(path + "/type", "must be a type name or a non-empty array of them");
        }
        if (schema.TryGetProperty("properties", out _) || schema.TryGetProperty("additionalProperties", out _)) return ["object"];
        if (schema.TryGetProperty("items", out _)) return ["array"];
        return [];
    }

    int Typed(string type, JsonElement schema, string path) => type switch
    {
        "object" => Object(schema, path),
        "array" => Array(schema, path),
        "string" => String(schema, path),
        "integer" => IntegerIn(schema, path),
        "number" => NumberIn(schema, path),
        "boolean" => boolean,
        "null" => nul,
        _ => throw Invalid(path + "/type", $"names '{type}', expected object, array, string, integer, number, boolean or null"),
    };

    int Object(JsonElement schema, string path)
    {
        if (!schema.TryGetProperty("properties", out var properties))
        {
            if (!schema.TryGetProperty("additionalProperties", out var additional)) return anyObject;
            if (additional.ValueKind == JsonValueKind.False) return g.Sequence("{", ws, "}");
            return Members(str, Compile(additional, path + "/additionalProperties"));
        }
        if (properties.ValueKind != JsonValueKind.Object) throw Invalid(path + "/properties", "must be an object");
        var required = new HashSet<string>(StringComparer.Ordinal);
        if (schema.TryGetProperty("required", out var names))
        {
            if (names.ValueKind != JsonValueKind.Array || names.EnumerateArray().Any(n => n.ValueKind != JsonValueKind.String))
                throw Invalid(path + "/required", "must be an array of property names");
            foreach (var name in names.EnumerateArray()) required.Add(name.GetString()!);
        }
        var list = properties.EnumerateObject().ToList();
        foreach (var missing in required.Where(r => list.All(p => p.Name != r)))
            throw new NotSupportedException($"'{path}/required' names '{missing}', which is not in its 'properties'; constrained decoding writes only the listed properties.");
        // first[i]: properties i.. with none written yet; rest[i]: properties i.. after one was written (so a comma comes first).
        int first = g.Empty(), rest = g.Empty();
        for (int i = list.Count - 1; i >= 0; i--)
        {
            var p = list[i];
            int member = g.Sequence(Literal(p.Name), ws, ":", ws, Compile(p.Value, $"{path}/properties/{p.Name}"));
            int comma = g.Sequence(ws, ",", ws, member, rest);
            bool mandatory = required.Contains(p.Name);
            int newFirst = mandatory ? g.Sequence(member, rest) : g.Rule([member, rest], [first]);
            rest = mandatory ? comma : g.Rule([comma], [rest]);
            first = newFirst;
        }
        return g.Sequence("{", ws, first, ws, "}");
    }

    int Array(JsonElement schema, string path)
    {
        int item = schema.TryGetProperty("items", out var items) ? Compile(items, path + "/items") : value;
        int min = Count(schema, "minItems", path) ?? 0;
        int? max = Count(schema, "maxItems", path);
        if (max < min) throw Invalid(path, $"has maxItems {max} below minItems {min}");
        if (max == 0) return g.Sequence("[", ws, "]");
        int elements = g.Repeat(item, Math.Max(min, 1), max, g.Sequence(ws, ",", ws));
        return min == 0 ? g.Sequence("[", ws, g.Optional(g.Sequence(elements, ws)), "]") : g.Sequence("[", ws, elements, ws, "]");
    }

    int String(JsonElement schema, string path)
    {
        if (schema.TryGetProperty("format", out var format) && format.ValueKind == JsonValueKind.String)
        {
            int? formatted = format.GetString() switch
            {
                "date" => g.Sequence("\"", Date(), "\""),
                "date-time" => g.Sequence("\"", Date(), "T", Time(), "\""),
                "uuid" => g.Sequence("\"", Hex(8), "-", Hex(4), "-", Hex(4), "-", Hex(4), "-", Hex(12), "\""),
                _ => null,
            };
            if (formatted is int rule) return rule;
        }
        int min = Count(schema, "minLength", path) ?? 0;
        int? max = Count(schema, "maxLength", path);
        if (max < min) throw Invalid(path, $"has maxLength {max} below minLength {min}");
        if (min == 0 && max is null) return str;
        return g.Sequence("\"", g.Repeat(chr, min, max), "\"");
    }

    /// <summary>An integer within the schema's bounds (inclusive or exclusive); unbounded sides stop at 9 digits, or the bound's digits when larger.</summary>
    int IntegerIn(JsonElement schema, string path)
    {
        double? min = Bound(schema, "minimum", path), max = Bound(schema, "maximum", path);
        double? above = Bound(schema, "exclusiveMinimum", path), below = Bound(schema, "exclusiveMaximum", path);
        double? low = Max(min is double m ? Math.Ceiling(m) : null, above is double a ? Math.Floor(a) + 1 : null);
        double? high = Min(max is double x ? Math.Floor(x) : null, below is double b ? Math.Ceiling(b) - 1 : null);
        long limit = Largest(Math.Max(DefaultIntegerDigits, Math.Max(Digits(low), Digits(high))));
        long lo = low is double l ? (long)Math.Clamp(l, -limit, limit) : -limit, hi = high is double h ? (long)Math.Clamp(h, -limit, limit) : limit;
        if (lo > hi) throw Invalid(path, $"admits no integer (from {low} to {high})");
        return IntegerRange(lo, hi);

        static double? Max(double? p, double? q) => p is null ? q : q is null ? p : Math.Max(p.Value, q.Value);
        static double? Min(double? p, double? q) => p is null ? q : q is null ? p : Math.Min(p.Value, q.Value);
        static int Digits(double? bound) => bound is double d ? Math.Clamp(Math.Abs(d) < 10 ? 1 : (int)Math.Floor(Math.Log10(Math.Abs(d))) + 1, 1, 18) : 1;
    }

    /// <summary>A number within the schema's bounds, which must then be whole numbers (a fraction is allowed below the upper bound).</summary>
    int NumberIn(JsonElement schema, string path)
    {
        foreach (string exclusive in (string[])["exclusiveMinimum", "exclusiveMaximum"])
            if (schema.TryGetProperty(exclusive, out _)) throw new NotSupportedException($"'{exclusive}' at '{path}' is not supported on numbers by constrained decoding (it is on integers).");
        double? min = Bound(schema, "minimum", path), max = Bound(schema, "maximum", path);
        if (min is null && max is null) return number;
        foreach (var (name, bound) in new[] { ("minimum", min), ("maximum", max) })
            if (bound is double d && (d != Math.Floor(d) || Math.Abs(d) >= Largest(NumberDigits)))
                throw new NotSupportedException($"'{name}' at '{path}' is {d}; constrained decoding bounds numbers by whole numbers of up to {NumberDigits} digits.");
        long limit = Largest(NumberDigits);
        long lo = (long)(min ?? -limit), hi = (long)(max ?? limit);
        if (lo > hi) throw Invalid(path, $"admits no number (minimum {lo} above maximum {hi})");
        if (lo >= 0) return Magnitude(lo, hi);
        if (hi <= 0) return g.Sequence("-", Magnitude(-hi, -lo));
        return g.Rule(["-", Magnitude(0, -lo)], [Magnitude(0, hi)]);
    }

    /// <summary>Decimals from <paramref name="low"/> to <paramref name="high"/> (whole, non-negative): below the top any fraction, at the top only zeros.</summary>
    int Magnitude(long low, long high)
    {
        var digit = ByteSet.Range('0', '9');
        int zeros = g.Optional(g.Sequence(".", g.Repeat("0", 1, NumberDigits)));
        int top = g.Sequence(high.ToString(CultureInfo.InvariantCulture), zeros);
        if (low == high) return top;
        int fraction = g.Optional(g.Sequence(".", g.Repeat(digit, 1, NumberDigits)));
        return g.Rule([NonNegative(low, high - 1), fraction], [top]);
    }

    /// <summary>The integers from <paramref name="low"/> to <paramref name="high"/>.</summary>
    int IntegerRange(long low, long high)
    {
        if (low >= 0) return NonNegative(low, high);
        if (high < 0) return g.Sequence("-", NonNegative(-high, -low));
        return g.Rule(["-", NonNegative(1, -low)], [NonNegative(0, high)]);
    }

    /// <summary>The decimal numerals (no leading zeros) of <paramref name="low"/>..<paramref name="high"/>, one alternative per length.</summary>
    int NonNegative(long low, long high)
    {
        var lengths = new List<object[]>();
        for (int n = Length(low); n <= Length(high); n++)
        {
            long first = Math.Max(low, n == 1 ? 0 : Largest(n - 1) + 1), last = Math.Min(high, Largest(n));
            lengths.Add([SameLength(first.ToString(CultureInfo.InvariantCulture), last.ToString(CultureInfo.InvariantCulture))]);
        }
        return g.Rule([.. lengths]);

        static int Length(long v) => v.ToString(CultureInfo.InvariantCulture).Length;
    }

    /// <summary>The numerals from <paramref name="a"/> to <paramref name="b"/>, both of one length, digit by digit.</summary>
    int SameLength(string a, string b)
    {
        if (a.Length == 0) return g.Empty();
        var digit = ByteSet.Range('0', '9');
        if (a[0] == b[0]) return g.Sequence(a[..1], SameLength(a[1..], b[1..]));
        string rest = new('9', a.Length - 1), none = new('0', a.Length - 1);
        if (a[1..] == none && b[1..] == rest) return g.Sequence(ByteSet.Range(a[0], b[0]), g.Repeat(digit, a.Length - 1, a.Length - 1));
        var alternatives = new List<object[]> { new object[] { a[..1], SameLength(a[1..], rest) } };
        if (b[0] - a[0] > 1) alternatives.Add([ByteSet.Range(a[0] + 1, b[0] - 1), g.Repeat(digit, a.Length - 1, a.Length - 1)]);
        alternatives.Add([b[..1], SameLength(none, b[1..])]);
        return g.Rule([.. alternatives]);
    }

    static long Largest(int digits) => (long)Math.Pow(10, digits) - 1;

    /// <summary>Members "key": value separated by commas, any number of them.</summary>
    int Members(int key, int item)
    {
        int member = g.Sequence(key, ws, ":", ws, item);
        return g.Sequence("{", ws, g.Optional(g.Sequence(g.Repeat(member, 1, null, g.Sequence(ws, ",", ws)), ws)), "}");
    }

    int Reference(JsonElement reference, string path)
    {
        if (reference.ValueKind != JsonValueKind.String) throw Invalid(path + "/$ref", "must be a string");
        string target = reference.GetString()!;
        if (refs.TryGetValue(target, out int known)) return known;
        if (target != "#" && !target.StartsWith("#/", StringComparison.Ordinal))
            throw new NotSupportedException($"'$ref' at '{path}' points to '{target}'; constrained decoding resolves references inside the schema only ('#/...').");
        var resolved = root;
        foreach (string raw in target.Length > 1 ? target[2..].Split('/') : [])
        {
            string part = Uri.UnescapeDataString(raw).Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
            if (resolved.ValueKind != JsonValueKind.Object || !resolved.TryGetProperty(part, out resolved))
                throw Invalid(path + "/$ref", $"points to '{target}', which the schema does not contain");
        }
        // Declared before compiling, so a recursive schema refers back to this rule.
        int rule = g.Declare();
        refs[target] = rule;
        g.Define(rule, [Compile(resolved, target)]);
        return rule;
    }

    /// <summary>One JSON string character: unescaped, a well-formed UTF-8 sequence, or an escape (surrogates only in pairs).</summary>
    int Character()
    {
        var tail = ByteSet.Range(0x80, 0xBF);
        var hex = ByteSet.Of("0123456789abcdefABCDEF");
        int escape = g.Rule(
            [ByteSet.Of("\"\\/bfnrt")],
            ["u", ByteSet.Of("0123456789ABCabc"), hex, hex, hex],
            ["u", ByteSet.Of("Dd"), ByteSet.Range('0', '7'), hex, hex],
            ["u", ByteSet.Of("Dd"), ByteSet.Of("89ABab"), hex, hex, "\\u", ByteSet.Of("Dd"), ByteSet.Of("CDEFcdef"), hex, hex],
            ["u", ByteSet.Of("EFef"), hex, hex, hex]);
        return g.Rule(
            [ByteSet.Range(0x20, 0x7F).Except(ByteSet.Of("\"\\"))],
            ["\\", escape],
            [ByteSet.Range(0xC2, 0xDF), tail],
            [ByteSet.Range(0xE0, 0xE0), ByteSet.Range(0xA0, 0xBF), tail],
            [ByteSet.Range(0xE1, 0xEC), tail, tail],
            [ByteSet.Range(0xED, 0xED), ByteSet.Range(0x80, 0x9F), tail],
            [ByteSet.Range(0xEE, 0xEF), tail, tail],
            [ByteSet.Range(0xF0, 0xF0), ByteSet.Range(0x90, 0xBF), tail, tail],
            [ByteSet.Range(0xF1, 0xF3), tail, tail, tail],
            [ByteSet.Range(0xF4, 0xF4), ByteSet.Range(0x80, 0x8F), tail, tail]);
    }

    /// <summary>Any number: up to 15 digits before and after the point, an exponent of up to 2 digits (so it fits a double).</summary>
    int Number()
    {
        var digit = ByteSet.Range('0', '9');
        int fraction = g.Optional(g.Sequence(".", g.Repeat(digit, 1, NumberDigits)));
        int exponent = g.Optional(g.Sequence(ByteSet.Of("eE"), g.Optional(ByteSet.Of("+-")), g.Repeat(digit, 1, 2)));
        return g.Sequence(g.Optional("-"), NonNegative(0, Largest(NumberDigits)), fraction, exponent);
    }

    /// <summary>A calendar date, with day ranges per month (29 February excluded, so every date exists).</summary>
    int Date()
    {
        var digit = ByteSet.Range('0', '9');
        int day28 = g.Rule(["0", ByteSet.Range('1', '9')], ["1", digit], ["2", ByteSet.Range('0', '8')]);
        int day30 = g.Rule([day28], ["29"], ["30"]);
        int day31 = g.Rule([day30], ["31"]);
        int monthDay = g.Rule(
            [g.Rule(["0", ByteSet.Of("13578")], ["1", ByteSet.Of("02")]), "-", day31],
            [g.Rule(["0", ByteSet.Of("469")], ["11"]), "-", day30],
            ["02-", day28]);
        return g.Sequence(ByteSet.Range('1', '9'), digit, digit, digit, "-", monthDay);
    }

    /// <summary>A time of day with an optional fraction and a zone (RFC 3339).</summary>
    int Time()
    {
        var digit = ByteSet.Range('0', '9');
        int hour = g.Rule([ByteSet.Of("01"), digit], ["2", ByteSet.Range('0', '3')]);
        int sixty = g.Sequence(ByteSet.Range('0', '5'), digit);
        int fraction = g.Optional(g.Sequence(".", g.Repeat(digit, 1, 7)));
        int zone = g.Rule(["Z"], [ByteSet.Of("+-"), hour, ":", sixty]);
        return g.Sequence(hour, ":", sixty, ":", sixty, fraction, zone);
    }

    int Hex(int count) => g.Repeat(ByteSet.Of("0123456789abcdef"), count, count);

    /// <summary>A value written as compact JSON text.</summary>
    static string Literal(JsonElement value) => JsonSerializer.Serialize(value, Compact);

    static string Literal(string name) => JsonSerializer.Serialize(name, Compact);

    static int? Count(JsonElement schema, string keyword, string path)
    {
        if (!schema.TryGetProperty(keyword, out var count)) return null;
        if (count.ValueKind != JsonValueKind.Number || !count.TryGetInt32(out int n) || n < 0)
            throw Invalid($"{path}/{keyword}", $"is {count.GetRawText()}, expected a non-negative integer");
        if (n > MaxUnrolled) throw new NotSupportedException($"'{path}/{keyword}' is {n}; constrained decoding supports counts up to {MaxUnrolled}.");
        return n;
    }

    static double? Bound(JsonElement schema, string keyword, string path)
    {
        if (!schema.TryGetProperty(keyword, out var bound)) return null;
        if (bound.ValueKind != JsonValueKind.Number) throw Invalid($"{path}/{keyword}", $"is {bound.GetRawText()}, expected a number");
        return bound.GetDouble();
    }

    static ArgumentException Invalid(string path, string problem) =>
        new(string.Create(CultureInfo.InvariantCulture, $"The JSON schema at '{path}' {problem}."), "schema");
}
