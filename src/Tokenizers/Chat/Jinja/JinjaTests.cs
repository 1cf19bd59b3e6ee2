namespace LlavaModal.Tokenizers.Chat.Jinja;

/// <summary>Jinja's tests (<c>x is defined</c>, <c>x is string</c>, <c>x is equalto y</c>, ...), with Python's type rules.</summary>
static class JinjaTests
{
    public static bool Apply(string name, object? value, IReadOnlyList<object?> args, int position)
    {
        object? Arg() => args.Count > 0 ? args[0] : throw new JinjaException(position, $"the test '{name}' needs an argument");

        return name switch
        {
            "defined" => value is not Undefined,
            "undefined" => value is Undefined,
            "none" => value is null,
            "boolean" => value is bool,
            "true" => value is true,
            "false" => value is false,
            "integer" => value is long,
            "float" => value is double,
            "number" => value is long or double or bool,
            "string" => value is string,
            "mapping" => value is JinjaDict,
            "sequence" => value is string or List<object?> or object?[] or JinjaDict,
            "iterable" => value is string or List<object?> or object?[] or JinjaDict or JinjaNamespace,
            "callable" => value is JinjaFunction,
            "odd" => Integer(value) % 2 != 0,
            "even" => Integer(value) % 2 == 0,
            "divisibleby" => Integer(Arg()) != 0 && Integer(value) % Integer(Arg()) == 0,
            "eq" or "equalto" or "==" => JinjaOps.Equal(value, Arg()),
            "ne" or "!=" => !JinjaOps.Equal(value, Arg()),
            "lt" or "lessthan" or "<" => JinjaOps.Compare(value, Arg(), "<", position) < 0,
            "le" or "<=" => JinjaOps.Compare(value, Arg(), "<=", position) <= 0,
            "gt" or "greaterthan" or ">" => JinjaOps.Compare(value, Arg(), ">", position) > 0,
            "ge" or ">=" => JinjaOps.Compare(value, Arg(), ">=", position) >= 0,
            "in" => JinjaOps.Contains(Arg(), value, position),
            "sameas" => value is null ? Arg() is null : value is bool b ? Arg() is bool c && b == c : ReferenceEquals(value, Arg()),
            "lower" => value is string s && s == s.ToLowerInvariant(),
            "upper" => value is string u && u == u.ToUpperInvariant(),
            _ => throw new JinjaException(position, $"no test named '{name}'"),
        };

        long Integer(object? v) => v is long or bool ? JinjaOps.ToLong(v)
            : v is double d && d == Math.Floor(d) ? (long)d
            : throw new JinjaException(position, $"the test '{name}' needs an integer, not {JinjaOps.TypeName(v)}");
    }
}
