namespace LlavaModal.Tokenizers.Chat.Jinja;

// Run-time values besides the plain ones. Values are Python-like: null (None), bool, long (int), double (float),
// string, List<object?> (list), object?[] (tuple), JinjaDict (dict), and the types below.

/// <summary>A missing variable, attribute or item: empty when printed, false, iterable as nothing; any further access is an error.</summary>
sealed class Undefined(string description)
{
    /// <summary>What was missing, for the error when the template uses it further (e.g. <c>'dict object' has no attribute 'x'</c>).</summary>
    public string Description { get; } = description;
}

/// <summary>A Python dict: insertion-ordered, keys compared as Python does (1 == 1.0 == True).</summary>
sealed class JinjaDict : Dictionary<object, object?>
{
    public JinjaDict()
        : base(JinjaKeyComparer.Instance)
    {
    }
}

/// <summary><c>namespace(...)</c>: the one object templates may assign attributes on (<c>{% set ns.x = 1 %}</c>).</summary>
sealed class JinjaNamespace
{
    public Dictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

/// <summary>The arguments of a call: positional, keyword, and where the call is (for errors).</summary>
sealed record JinjaArguments(IReadOnlyList<object?> Positional, IReadOnlyDictionary<string, object?> Keywords, int Position)
{
    /// <summary>Argument <paramref name="index"/> by position or <paramref name="name"/> by keyword, else <paramref name="fallback"/>.</summary>
    public object? Get(int index, string name, object? fallback = null) =>
        index < Positional.Count ? Positional[index] : Keywords.TryGetValue(name, out object? value) ? value : fallback;

    public bool Has(int index, string name) => index < Positional.Count || Keywords.ContainsKey(name);
}

/// <summary>Something callable from a template: a global function, a bound method, a macro or <c>caller</c>.</summary>
sealed class JinjaFunction(string name, Func<JinjaArguments, object?> invoke)
{
    public string Name { get; } = name;

    public object? Invoke(JinjaArguments arguments) => invoke(arguments);
}

/// <summary>The <c>loop</c> variable of a <c>for</c>.</summary>
sealed class JinjaLoop(IReadOnlyList<object?> items)
{
    public int Index0 { get; set; }

    public IReadOnlyList<object?> Items { get; } = items;

    /// <summary>The attribute <paramref name="name"/> of <c>loop</c>, or null when there is none.</summary>
    public object? Attribute(string name, out bool found)
    {
        found = true;
        int length = Items.Count;
        switch (name)
        {
            case "index": return (long)(Index0 + 1);
            case "index0": return (long)Index0;
            case "revindex": return (long)(length - Index0);
            case "revindex0": return (long)(length - Index0 - 1);
            case "first": return Index0 == 0;
            case "last": return Index0 == length - 1;
            case "length": return (long)length;
            case "depth": return 1L;
            case "depth0": return 0L;
            case "previtem": return Index0 > 0 ? Items[Index0 - 1] : new Undefined("there is no previous item");
            case "nextitem": return Index0 + 1 < length ? Items[Index0 + 1] : new Undefined("there is no next item");
            case "cycle":
                return new JinjaFunction("loop.cycle", args => args.Positional.Count == 0
                    ? throw new JinjaException(args.Position, "loop.cycle() needs at least one value")
                    : args.Positional[Index0 % args.Positional.Count]);
            default:
                found = false;
                return null;
        }
    }
}

/// <summary>Dict keys compared as Python compares them: numbers by value (True == 1), strings ordinally.</summary>
sealed class JinjaKeyComparer : IEqualityComparer<object>
{
    public static readonly JinjaKeyComparer Instance = new();

    public new bool Equals(object? x, object? y) => JinjaOps.Equal(x, y);

    public int GetHashCode(object obj) => obj switch
    {
        bool b => (b ? 1L : 0L).GetHashCode(),
        double d when d == Math.Floor(d) && Math.Abs(d) < 9e18 => ((long)d).GetHashCode(),
        string s => StringComparer.Ordinal.GetHashCode(s),
        _ => obj.GetHashCode(),
    };
}
