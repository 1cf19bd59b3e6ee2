namespace LlavaModal.Decoder.Generation.Constraints;

/// <summary>
/// A context-free grammar over bytes, in the form a recognizer walks: each rule is a list of alternatives, each
/// alternative a run of elements (a byte set, or a reference to a rule) closed by an end marker, all flattened into
/// one array so that a parser position is an index. Built by <see cref="GrammarBuilder"/>; immutable.
/// </summary>
sealed class Grammar
{
    internal const int Unreachable = int.MaxValue / 4;

    internal enum Kind : byte { End, Bytes, Rule }

    internal readonly record struct Element(Kind Kind, int Value);

    internal Grammar(Element[] elements, ByteSet[] sets, int[][] rules, int root)
    {
        Elements = elements;
        Sets = sets;
        Rules = rules;
        Root = root;
        RuleMinimum = MinimumLengths(elements, rules);
        if (RuleMinimum[root] >= Unreachable) throw new ArgumentException("The grammar's root rule derives no finite text.");
        SuffixMinimum = new int[elements.Length];
        for (int pos = elements.Length - 1; pos >= 0; pos--)
            SuffixMinimum[pos] = elements[pos].Kind == Kind.End ? 0 : Add(Length(elements[pos]), SuffixMinimum[pos + 1]);
    }

    /// <summary>Every alternative's elements, each alternative followed by <see cref="Kind.End"/>.</summary>
    internal Element[] Elements { get; }

    /// <summary>The byte sets <see cref="Kind.Bytes"/> elements point to.</summary>
    internal ByteSet[] Sets { get; }

    /// <summary>Per rule, the positions where its alternatives start.</summary>
    internal int[][] Rules { get; }

    /// <summary>The rule a whole output must match.</summary>
    internal int Root { get; }

    /// <summary>Per rule, the fewest bytes it can match.</summary>
    internal int[] RuleMinimum { get; }

    /// <summary>Per position, the fewest bytes that finish its alternative from there.</summary>
    internal int[] SuffixMinimum { get; }

    int Length(Element e) => e.Kind == Kind.Bytes ? 1 : RuleMinimum[e.Value];

    internal static int Add(int a, int b) => Math.Min(Unreachable, a + b);

    /// <summary>The fewest bytes each rule matches, by fixed-point iteration (rules may be recursive).</summary>
    static int[] MinimumLengths(Element[] elements, int[][] rules)
    {
        var minimum = new int[rules.Length];
        Array.Fill(minimum, Unreachable);
        for (bool changed = true; changed;)
        {
            changed = false;
            for (int r = 0; r < rules.Length; r++)
            {
                foreach (int start in rules[r])
                {
                    int total = 0;
                    for (int pos = start; elements[pos].Kind != Kind.End; pos++)
                        total = Add(total, elements[pos].Kind == Kind.Bytes ? 1 : minimum[elements[pos].Value]);
                    if (total < minimum[r])
                    {
                        minimum[r] = total;
                        changed = true;
                    }
                }
            }
        }
        return minimum;
    }
}
