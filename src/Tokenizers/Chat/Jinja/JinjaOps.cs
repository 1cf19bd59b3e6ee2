using System.Globalization;
using System.Text;

namespace LlavaModal.Tokenizers.Chat.Jinja;

/// <summary>
/// Python's semantics for the values templates handle (transformers renders with Python's Jinja): truthiness,
/// <c>str()</c>, equality and ordering, arithmetic, <c>in</c>, iteration, length, indexing and slicing.
/// </summary>
static class JinjaOps
{
    public static bool IsTrue(object? value) => value switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> list => list.Count > 0,
        object?[] tuple => tuple.Length > 0,
        JinjaDict dict => dict.Count > 0,
        _ => true,
    };

    /// <summary>Python's <c>str()</c>; undefined prints as nothing (Jinja's default <c>Undefined</c>).</summary>
    public static string ToStr(object? value) => value switch
    {
        string s => s,
        Undefined => string.Empty,
        _ => Repr(value),
    };

    /// <summary>Python's <c>repr()</c>, which is how containers print their items.</summary>
    public static string Repr(object? value)
    {
        switch (value)
        {
            case null: return "None";
            case Undefined: return string.Empty;
            case bool b: return b ? "True" : "False";
            case long l: return l.ToString(CultureInfo.InvariantCulture);
            case double d: return FloatRepr(d);
            case string s: return StringRepr(s);
            case List<object?> list: return "[" + string.Join(", ", list.Select(Repr)) + "]";
            case object?[] tuple: return "(" + string.Join(", ", tuple.Select(Repr)) + (tuple.Length == 1 ? ",)" : ")");
            case JinjaDict dict: return "{" + string.Join(", ", dict.Select(kv => Repr(kv.Key) + ": " + Repr(kv.Value))) + "}";
            case JinjaNamespace ns: return "<Namespace " + string.Join(", ", ns.Attributes.Select(kv => kv.Key + "=" + Repr(kv.Value))) + ">";
            case JinjaFunction f: return $"<function {f.Name}>";
            default: return value.ToString() ?? string.Empty;
        }
    }

    /// <summary>Python's float repr: shortest round-trip digits, exponent form below 1e-4 and from 1e16.</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d))
        {
            return "nan";
        }

        if (double.IsInfinity(d))
        {
            return d > 0 ? "inf" : "-inf";
        }

        if (d == 0)
        {
            return double.IsNegative(d) ? "-0.0" : "0.0";
        }

        // "E16" gives the shortest round-trip digits in a fixed shape: d.ddddE+xx.
        string r = d.ToString("R", CultureInfo.InvariantCulture);
        string mantissa = r;
        int exponent = 0;
        int e = r.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            mantissa = r[..e];
            exponent = int.Parse(r[(e + 1)..], CultureInfo.InvariantCulture);
        }

        bool negative = mantissa.StartsWith('-');
        mantissa = mantissa.TrimStart('-');
        int point = mantissa.IndexOf('.');
        string digits = mantissa.Replace(".", string.Empty, StringComparison.Ordinal);
        int intDigits = point < 0 ? mantissa.Length : point;
        int leadingZeros = digits.Length - digits.TrimStart('0').Length;
        digits = digits.TrimStart('0').TrimEnd('0');
        if (digits.Length == 0)
        {
            digits = "0";
        }

        int decimalExponent = intDigits - leadingZeros - 1 + exponent; // position of the first significant digit
        string sign = negative ? "-" : string.Empty;
        if (decimalExponent < -4 || decimalExponent >= 16)
        {
            string frac = digits.Length > 1 ? "." + digits[1..] : string.Empty;
            return $"{sign}{digits[0]}{frac}e{(decimalExponent < 0 ? "-" : "+")}{Math.Abs(decimalExponent):00}";
        }

        if (decimalExponent < 0)
        {
            return $"{sign}0.{new string('0', -decimalExponent - 1)}{digits}";
        }

        if (digits.Length <= decimalExponent + 1)
        {
            return $"{sign}{digits}{new string('0', decimalExponent + 1 - digits.Length)}.0";
        }

        return $"{sign}{digits[..(decimalExponent + 1)]}.{digits[(decimalExponent + 1)..]}";
    }

    static string StringRepr(string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        var sb = new StringBuilder().Append(quote);
        foreach (char c in s)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c == quote)
                    {
                        sb.Append('\\').Append(c);
                    }
                    else if (c < 0x20 || c == 0x7f)
                    {
                        sb.Append($"\\x{(int)c:x2}");
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        return sb.Append(quote).ToString();
    }

    public static string TypeName(object? value) => value switch
    {
        null => "NoneType",
        Undefined => "Undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        object?[] => "tuple",
        JinjaDict => "dict",
        JinjaNamespace => "Namespace",
        JinjaFunction => "function",
        JinjaLoop => "LoopContext",
        _ => value.GetType().Name,
    };

    /// <summary>Python ==: numbers by value across int/float/bool, sequences and dicts element by element.</summary>
    public static bool Equal(object? a, object? b)
    {
        if (a is Undefined || b is Undefined)
        {
            return a is Undefined && b is Undefined;
        }

        if (IsNumber(a) && IsNumber(b))
        {
            return a is double || b is double ? ToDouble(a) == ToDouble(b) : ToLong(a) == ToLong(b);
        }

        return (a, b) switch
        {
            (null, null) => true,
            (null, _) or (_, null) => false,
            (string x, string y) => string.Equals(x, y, StringComparison.Ordinal),
            (List<object?> x, List<object?> y) => x.Count == y.Count && x.Zip(y).All(p => Equal(p.First, p.Second)),
            (object?[] x, object?[] y) => x.Length == y.Length && x.Zip(y).All(p => Equal(p.First, p.Second)),
            (JinjaDict x, JinjaDict y) => x.Count == y.Count && x.All(kv => y.TryGetValue(kv.Key, out object? v) && Equal(kv.Value, v)),
            _ => ReferenceEquals(a, b),
        };
    }

    public static bool IsNumber(object? value) => value is long or double or bool;

    public static long ToLong(object? value) => value switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d => (long)d,
        _ => 0,
    };

    public static double ToDouble(object? value) => value switch
    {
        double d => d,
        long l => l,
        bool b => b ? 1 : 0,
        _ => 0,
    };

    /// <summary>Python ordering for &lt; &gt; &lt;= &gt;=: numbers, strings (by code point), lists and tuples lexicographically.</summary>
    public static int Compare(object? a, object? b, string op, int position)
    {
        if (IsNumber(a) && IsNumber(b))
        {
            return a is double || b is double ? ToDouble(a).CompareTo(ToDouble(b)) : ToLong(a).CompareTo(ToLong(b));
        }

        if (a is string x && b is string y)
        {
            return string.CompareOrdinal(x, y) switch { < 0 => -1, > 0 => 1, _ => 0 };
        }

        if (AsSequence(a) is { } left && AsSequence(b) is { } right && a?.GetType() == b?.GetType())
        {
            for (int i = 0; i < Math.Min(left.Count, right.Count); i++)
            {
                if (!Equal(left[i], right[i]))
                {
                    return Compare(left[i], right[i], op, position);
                }
            }

            return left.Count.CompareTo(right.Count);
        }

        throw new JinjaException(position, $"'{op}' is not supported between '{TypeName(a)}' and '{TypeName(b)}'");
    }

    /// <summary>Lists and tuples as a read-only list, else null.</summary>
    public static IReadOnlyList<object?>? AsSequence(object? value) => value switch
    {
        List<object?> list => list,
        object?[] tuple => tuple,
        _ => null,
    };

    /// <summary>What <c>for</c> iterates: items of lists and tuples, characters of strings, keys of dicts, nothing for undefined.</summary>
    public static List<object?> Iterate(object? value, int position) => value switch
    {
        List<object?> list => [.. list],
        object?[] tuple => [.. tuple],
        string s => [.. Characters(s)],
        JinjaDict dict => [.. dict.Keys],
        JinjaNamespace ns => [.. ns.Attributes.Keys],
        Undefined => [],
        _ => throw new JinjaException(position, $"'{TypeName(value)}' object is not iterable"),
    };

    /// <summary>A string's characters as Python sees them (code points, so a surrogate pair is one).</summary>
    public static IEnumerable<object?> Characters(string s)
    {
        foreach (Rune rune in s.EnumerateRunes())
        {
            yield return rune.ToString();
        }
    }

    public static long Length(object? value, int position) => value switch
    {
        string s => s.EnumerateRunes().Count(),
        List<object?> list => list.Count,
        object?[] tuple => tuple.Length,
        JinjaDict dict => dict.Count,
        Undefined => 0,
        _ => throw new JinjaException(position, $"object of type '{TypeName(value)}' has no len()"),
    };

    public static bool Contains(object? container, object? item, int position) => container switch
    {
        string s when item is string sub => s.Contains(sub, StringComparison.Ordinal),
        string => throw new JinjaException(position, $"'in <string>' requires string as left operand, not {TypeName(item)}"),
        List<object?> list => list.Any(x => Equal(x, item)),
        object?[] tuple => tuple.Any(x => Equal(x, item)),
        JinjaDict dict => item is not null && item is not Undefined && dict.ContainsKey(item),
        JinjaNamespace ns => item is string name && ns.Attributes.ContainsKey(name),
        Undefined => false,
        _ => throw new JinjaException(position, $"argument of type '{TypeName(container)}' is not iterable"),
    };

    /// <summary><c>a + b</c> and the other arithmetic operators, with Python's result types.</summary>
    public static object? Arithmetic(string op, object? a, object? b, int position)
    {
        if (a is Undefined || b is Undefined)
        {
            throw new JinjaException(position, $"{(a is Undefined ? ((Undefined)a).Description : ((Undefined)b!).Description)} (used with '{op}')");
        }

        if (IsNumber(a) && IsNumber(b))
        {
            bool isFloat = a is double || b is double;
            switch (op)
            {
                case "+": return isFloat ? ToDouble(a) + ToDouble(b) : (object)(ToLong(a) + ToLong(b));
                case "-": return isFloat ? ToDouble(a) - ToDouble(b) : (object)(ToLong(a) - ToLong(b));
                case "*": return isFloat ? ToDouble(a) * ToDouble(b) : (object)(ToLong(a) * ToLong(b));
                case "/":
                    return ToDouble(b) == 0 ? throw new JinjaException(position, "division by zero") : ToDouble(a) / ToDouble(b);
                case "//":
                    if (ToDouble(b) == 0)
                    {
                        throw new JinjaException(position, "integer division or modulo by zero");
                    }

                    return isFloat ? Math.Floor(ToDouble(a) / ToDouble(b)) : (object)FloorDiv(ToLong(a), ToLong(b));
                case "%":
                    if (ToDouble(b) == 0)
                    {
                        throw new JinjaException(position, "integer division or modulo by zero");
                    }

                    if (isFloat)
                    {
                        double x = ToDouble(a), y = ToDouble(b), m = x % y;
                        return m != 0 && (m < 0) != (y < 0) ? m + y : m;
                    }

                    return ToLong(a) - (FloorDiv(ToLong(a), ToLong(b)) * ToLong(b));
                case "**":
                    return !isFloat && ToLong(b) >= 0 ? (object)(long)Math.Pow(ToLong(a), ToLong(b)) : Math.Pow(ToDouble(a), ToDouble(b));
            }
        }

        switch (op, a, b)
        {
            case ("+", string x, string y): return x + y;
            case ("+", List<object?> x, List<object?> y): return new List<object?>([.. x, .. y]);
            case ("+", object?[] x, object?[] y): return (object?[])[.. x, .. y];
            case ("*", string x, long n): return string.Concat(Enumerable.Repeat(x, (int)Math.Max(0, n)));
            case ("*", long n, string x): return string.Concat(Enumerable.Repeat(x, (int)Math.Max(0, n)));
            case ("*", List<object?> x, long n): return Enumerable.Repeat(x, (int)Math.Max(0, n)).SelectMany(l => l).ToList();
        }

        throw new JinjaException(position, $"unsupported operand type(s) for {op}: '{TypeName(a)}' and '{TypeName(b)}'");
    }

    static long FloorDiv(long a, long b)
    {
        long q = a / b;
        return (a % b != 0) && ((a < 0) != (b < 0)) ? q - 1 : q;
    }

    /// <summary>Python indexing: negative indexes count from the end; a miss is undefined, not an error (as Jinja's getitem).</summary>
    public static object? Index(object? target, object? key)
    {
        switch (target)
        {
            case JinjaDict dict:
                return key is not null && key is not Undefined && dict.TryGetValue(key, out object? value) ? value : new Undefined($"'dict object' has no attribute {Repr(key)}");
            case string s when key is long or bool:
            {
                List<object?> chars = [.. Characters(s)];
                long i = ToLong(key);
                i = i < 0 ? chars.Count + i : i;
                return i >= 0 && i < chars.Count ? chars[(int)i] : new Undefined($"string index {ToLong(key)} out of range");
            }

            default:
                if (AsSequence(target) is { } seq && key is long or bool)
                {
                    long i = ToLong(key);
                    i = i < 0 ? seq.Count + i : i;
                    return i >= 0 && i < seq.Count ? seq[(int)i] : new Undefined($"'{TypeName(target)} object' has no element {ToLong(key)}");
                }

                return new Undefined($"'{TypeName(target)} object' has no attribute {Repr(key)}");
        }
    }

    /// <summary>Python slicing <c>[start:stop:step]</c> of lists, tuples and strings.</summary>
    public static object? Slice(object? target, object? start, object? stop, object? step, int position)
    {
        IReadOnlyList<object?> items = target switch
        {
            string s => [.. Characters(s)],
            _ => AsSequence(target) ?? throw new JinjaException(position, $"'{TypeName(target)}' object is not subscriptable"),
        };

        long n = items.Count;
        long st = step is null or Undefined ? 1 : ToLong(step);
        if (st == 0)
        {
            throw new JinjaException(position, "slice step cannot be zero");
        }

        long Bound(object? value, long fallback, long low, long high)
        {
            if (value is null or Undefined)
            {
                return fallback;
            }

            long v = ToLong(value);
            v = v < 0 ? v + n : v;
            return Math.Clamp(v, low, high);
        }

        var result = new List<object?>();
        if (st > 0)
        {
            for (long i = Bound(start, 0, 0, n), end = Bound(stop, n, 0, n); i < end; i += st)
            {
                result.Add(items[(int)i]);
            }
        }
        else
        {
            for (long i = Bound(start, n - 1, -1, n - 1), end = Bound(stop, -1, -1, n - 1); i > end; i += st)
            {
                result.Add(items[(int)i]);
            }
        }

        return target switch
        {
            string => string.Concat(result.Cast<string>()),
            object?[] => result.ToArray(),
            _ => result,
        };
    }
}
