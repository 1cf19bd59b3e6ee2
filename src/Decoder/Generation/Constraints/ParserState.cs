namespace LlavaModal.Decoder.Generation.Constraints;

/// <summary>
/// One parser stack: the position to match next and, below it, where to continue when its alternative ends.
/// Interned by <see cref="GrammarMatcher"/>, so equal stacks are one object and share their tails.
/// </summary>
sealed class Frame(int position, Frame? parent, int id, int completion)
{
    public int Position { get; } = position;
    public Frame? Parent { get; } = parent;
    public int Id { get; } = id;

    /// <summary>The fewest bytes that empty this stack (finish every alternative on it).</summary>
    public int Completion { get; } = completion;
}

/// <summary>
/// Where a recognizer can be after some bytes: the set of parser stacks still alive (several when the grammar is
/// ambiguous so far). Interned, with its transitions and token mask cached, so repeated states cost nothing.
/// </summary>
sealed class ParserState
{
    readonly ParserState?[] next = new ParserState?[256];

    internal ParserState(Frame[] stacks, bool accepts)
    {
        Stacks = stacks;
        Accepts = accepts;
        int completion = accepts ? 0 : Grammar.Unreachable;
        foreach (var stack in stacks) completion = Math.Min(completion, stack.Completion);
        Completion = completion;
    }

    /// <summary>Live stacks whose top is a byte set (the rest expanded away).</summary>
    public Frame[] Stacks { get; }

    /// <summary>The bytes so far are a whole match of the grammar.</summary>
    public bool Accepts { get; }

    /// <summary>No continuation and no match: the bytes so far are not a prefix of the grammar.</summary>
    public bool IsDead => Stacks.Length == 0 && !Accepts;

    /// <summary>The fewest bytes that make the text so far a whole match.</summary>
    public int Completion { get; }

    /// <summary>Tokens this state blocks (true = blocked), once computed without a length budget.</summary>
    public bool[]? Blocked { get; set; }

    /// <summary>The largest <see cref="Completion"/> any token allowed by <see cref="Blocked"/> leads to.</summary>
    public int WorstCompletionAfterToken { get; set; }

    internal ParserState? Next(byte b) => next[b];

    internal void SetNext(byte b, ParserState state) => next[b] = state;
}
