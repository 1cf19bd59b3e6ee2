namespace LlavaModal.Decoder.Generation.Constraints;

/// <summary>
/// Recognizes a <see cref="Grammar"/> byte by byte over a tokenizer's vocabulary: the parser states it reaches are
/// interned with their transitions, and the tokens each state allows are found once by walking the vocabulary's
/// byte trie (a subtree is skipped as soon as its prefix leaves the grammar). Shared by every sequence that uses the
/// same grammar and tokenizer; thread-safe by one lock (the engine's worker is normally its only caller).
/// </summary>
sealed class GrammarMatcher
{
    /// <summary>Masks kept at most (then new states compute theirs on each use): bounds memory on huge vocabularies.</summary>
    const long MaskBudgetBytes = 256L << 20;

    readonly Grammar grammar;
    readonly Lock gate = new();
    readonly Dictionary<(int Position, int Parent), Frame> frames = [];
    readonly Dictionary<string, ParserState> states = new(StringComparer.Ordinal);
    long maskBytes;

    public GrammarMatcher(Grammar grammar, TokenVocabulary vocabulary)
    {
        this.grammar = grammar;
        Vocabulary = vocabulary;
        var start = new HashSet<Frame?>();
        foreach (int alternative in grammar.Rules[grammar.Root]) Expand(Normalize(alternative, null), start, 0);
        Start = Intern(start);
    }

    public TokenVocabulary Vocabulary { get; }

    /// <summary>The state before any output.</summary>
    public ParserState Start { get; }

    /// <summary>The state after <paramref name="bytes"/> from <paramref name="state"/> (dead when they leave the grammar).</summary>
    public ParserState Advance(ParserState state, ReadOnlySpan<byte> bytes)
    {
        lock (gate)
        {
            foreach (byte b in bytes)
            {
                state = Step(state, b);
                if (state.IsDead) break;
            }
            return state;
        }
    }

    /// <summary>
    /// Tokens blocked in <paramref name="state"/> (true = blocked) when at most <paramref name="tokensLeft"/> tokens
    /// remain, this one included: a token is allowed when it keeps the output a prefix of the grammar and what is left
    /// can still be finished in the remaining tokens (one byte per token). End-of-sequence ids are allowed only once the
    /// output is a whole match. If even that cannot finish in time, the length budget is dropped (the output will be cut).
    /// </summary>
    public bool[] Blocked(ParserState state, int tokensLeft, IReadOnlyCollection<int> endIds)
    {
        lock (gate)
        {
            var blocked = state.Blocked;
            int worst = state.WorstCompletionAfterToken;
            if (blocked is null)
            {
                (blocked, worst) = Walk(state, Grammar.Unreachable, endIds);
                if (System.Array.IndexOf(blocked, false) < 0)
                    throw new InvalidOperationException(state.Accepts
                        ? "The output matches its grammar but the model has no end-of-sequence token to stop it."
                        : "No token of the vocabulary continues the output's grammar here (the vocabulary lacks the bytes it needs).");
                if (maskBytes + blocked.Length <= MaskBudgetBytes)
                {
                    state.Blocked = blocked;
                    state.WorstCompletionAfterToken = worst;
                    maskBytes += blocked.Length;
                }
            }
            // Far from the limit every allowed token can still be finished; near it, keep only those that can
            // (unless none can: then the output will be cut wherever it is).
            if (worst <= tokensLeft - 1 || state.Completion > tokensLeft) return blocked;
            var (budgeted, _) = Walk(state, tokensLeft - 1, endIds);
            return System.Array.IndexOf(budgeted, false) < 0 ? blocked : budgeted;
        }
    }

    /// <summary>Finds the tokens allowed in <paramref name="state"/> whose resulting completion fits <paramref name="budget"/>.</summary>
    (bool[] Blocked, int Worst) Walk(ParserState state, int budget, IReadOnlyCollection<int> endIds)
    {
        var blocked = new bool[Vocabulary.Size];
        Array.Fill(blocked, true);
        int worst = 0;
        var trie = Vocabulary;
        var pending = new Stack<(int Node, ParserState State)>();
        pending.Push((0, state));
        while (pending.Count > 0)
        {
            var (node, at) = pending.Pop();
            for (int c = trie.FirstChild(node), end = c + trie.ChildCount(node); c < end; c++)
            {
                var after = Step(at, trie.ChildByte(c));
                if (after.IsDead) continue;
                int child = trie.ChildNode(c);
                if (after.Completion <= budget)
                {
                    foreach (int id in trie.TokensAt(child))
                    {
                        blocked[id] = false;
                        worst = Math.Max(worst, after.Completion);
                    }
                }
                pending.Push((child, after));
            }
        }
        if (state.Accepts)
        {
            foreach (int id in endIds)
                if ((uint)id < (uint)blocked.Length) blocked[id] = false;
        }
        return (blocked, worst);
    }

    ParserState Step(ParserState state, byte b)
    {
        if (state.Next(b) is { } known) return known;
        var reached = new HashSet<Frame?>();
        foreach (var stack in state.Stacks)
        {
            var element = grammar.Elements[stack.Position];
            if (grammar.Sets[element.Value].Contains(b)) Expand(Normalize(stack.Position + 1, stack.Parent), reached, 0);
        }
        var next = Intern(reached);
        state.SetNext(b, next);
        return next;
    }

    /// <summary>Adds the stacks <paramref name="frame"/> stands for, with every rule reference on top replaced by its alternatives, until a byte set (or the empty stack: a whole match) is on top.</summary>
    void Expand(Frame? frame, HashSet<Frame?> into, int depth)
    {
        if (frame is null || grammar.Elements[frame.Position].Kind == Grammar.Kind.Bytes)
        {
            into.Add(frame);
            return;
        }
        // Only our own grammars reach here, and they are not left-recursive; this guards against a builder mistake.
        if (depth > 10_000) throw new InvalidOperationException("The grammar is left-recursive: a rule expands to itself without consuming a byte.");
        var continuation = Normalize(frame.Position + 1, frame.Parent);
        foreach (int alternative in grammar.Rules[grammar.Elements[frame.Position].Value])
            Expand(Normalize(alternative, continuation), into, depth + 1);
    }

    /// <summary>The frame at <paramref name="position"/> over <paramref name="parent"/>, or the parent itself when the alternative ends there.</summary>
    Frame? Normalize(int position, Frame? parent)
    {
        if (grammar.Elements[position].Kind == Grammar.Kind.End) return parent;
        var key = (position, parent?.Id ?? -1);
        if (!frames.TryGetValue(key, out var frame))
        {
            frame = new Frame(position, parent, frames.Count, Grammar.Add(grammar.SuffixMinimum[position], parent?.Completion ?? 0));
            frames[key] = frame;
        }
        return frame;
    }

    ParserState Intern(HashSet<Frame?> reached)
    {
        bool accepts = reached.Remove(null);
        var stacks = reached.Select(f => f!).OrderBy(f => f.Id).ToArray();
        string key = (accepts ? "a" : "") + string.Join(',', stacks.Select(f => f.Id));
        if (!states.TryGetValue(key, out var state))
        {
            state = new ParserState(stacks, accepts);
            states[key] = state;
        }
        return state;
    }
}
