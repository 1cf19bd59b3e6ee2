using System.Text;

namespace LlavaModal.Decoder.Generation.Constraints;

/// <summary>
/// Builds a <see cref="Grammar"/>. A rule is declared (an index, so rules can refer to each other and to themselves)
/// and defined by alternatives; an alternative is a sequence of parts: a <see cref="string"/> (its UTF-8 bytes in
/// order), a <see cref="ByteSet"/> (one byte from the set) or an <see cref="int"/> (a rule).
/// </summary>
sealed class GrammarBuilder
{
    readonly List<object[][]?> rules = [];

    /// <summary>A new rule, defined later with <see cref="Define"/>.</summary>
    public int Declare()
    {
        rules.Add(null);
        return rules.Count - 1;
    }

    /// <summary>Gives rule <paramref name="rule"/> its alternatives.</summary>
    public void Define(int rule, params object[][] alternatives)
    {
        if (rules[rule] is not null) throw new InvalidOperationException($"Rule {rule} is already defined.");
        foreach (var part in alternatives.SelectMany(a => a))
            if (part is not (string or ByteSet or int)) throw new ArgumentException($"A grammar part is a string, a ByteSet or a rule index, not {part.GetType().Name}.", nameof(alternatives));
        rules[rule] = alternatives;
    }

    /// <summary>A new rule with <paramref name="alternatives"/>.</summary>
    public int Rule(params object[][] alternatives)
    {
        int rule = Declare();
        Define(rule, alternatives);
        return rule;
    }

    /// <summary>A rule matching nothing but the empty text.</summary>
    public int Empty() => Rule([[]]);

    /// <summary>A rule matching <paramref name="parts"/> in order (one alternative).</summary>
    public int Sequence(params object[] parts) => Rule(parts);

    /// <summary>A rule matching <paramref name="part"/> or nothing.</summary>
    public int Optional(object part) => Rule([part], []);

    /// <summary>
    /// A rule matching <paramref name="item"/> between <paramref name="min"/> and <paramref name="max"/> times
    /// (null: no limit), with <paramref name="separator"/> (or nothing) between two items.
    /// </summary>
    public int Repeat(object item, int min, int? max, object? separator = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(min);
        if (max < min) throw new ArgumentOutOfRangeException(nameof(max), max, $"is below the minimum {min}.");
        if (max == 0) return Empty();
        object[] next = separator is null ? [item] : [separator, item];
        // After the first item come `low` required repeats, then up to `high - low` optional ones (or a loop).
        int low = Math.Max(min - 1, 0);
        int tail;
        if (max is int limit)
        {
            tail = Empty();
            for (int i = 0; i < limit - 1 - low; i++) tail = Rule([.. next, tail], []);
        }
        else
        {
            tail = Declare();
            Define(tail, [.. next, tail], []);
        }
        for (int i = 0; i < low; i++) tail = Sequence([.. next, tail]);
        return min == 0 ? Rule([item, tail], []) : Sequence(item, tail);
    }

    /// <summary>The grammar whose outputs match <paramref name="root"/>.</summary>
    public Grammar Build(int root)
    {
        var elements = new List<Grammar.Element>();
        var sets = new List<ByteSet>();
        var setIndex = new Dictionary<ByteSet, int>();
        var starts = new int[rules.Count][];
        for (int r = 0; r < rules.Count; r++)
        {
            var alternatives = rules[r] ?? throw new InvalidOperationException($"Rule {r} was declared but never defined.");
            starts[r] = new int[alternatives.Length];
            for (int a = 0; a < alternatives.Length; a++)
            {
                starts[r][a] = elements.Count;
                foreach (var part in alternatives[a])
                {
                    switch (part)
                    {
                        case string text:
                            foreach (byte b in Encoding.UTF8.GetBytes(text)) elements.Add(new(Grammar.Kind.Bytes, Index(ByteSet.Range(b, b))));
                            break;
                        case ByteSet set:
                            elements.Add(new(Grammar.Kind.Bytes, Index(set)));
                            break;
                        case int rule:
                            if ((uint)rule >= (uint)rules.Count) throw new InvalidOperationException($"Rule {r} refers to rule {rule}, which does not exist.");
                            elements.Add(new(Grammar.Kind.Rule, rule));
                            break;
                    }
                }
                elements.Add(new(Grammar.Kind.End, 0));
            }
        }
        return new Grammar([.. elements], [.. sets], starts, root);

        int Index(ByteSet set)
        {
            if (!setIndex.TryGetValue(set, out int index))
            {
                index = sets.Count;
                sets.Add(set);
                setIndex[set] = index;
            }
            return index;
        }
    }
}
