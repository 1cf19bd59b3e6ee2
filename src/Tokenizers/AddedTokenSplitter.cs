namespace LlavaModal.Tokenizers;

/// <summary>
/// Splits text on added tokens the way HF's slow tokenizer does (<c>tokens_trie.split</c> followed by the
/// <c>lstrip</c>/<c>rstrip</c>/<c>single_word</c> fix-ups of <c>PreTrainedTokenizer.tokenize</c>).
/// Matching is leftmost, then longest, which is what the HF trie yields for real vocabularies.
/// </summary>
sealed class AddedTokenSplitter
{
    readonly Dictionary<char, List<AddedToken>> byFirstChar = [];

    public AddedTokenSplitter(IEnumerable<AddedToken> tokens)
    {
        foreach (AddedToken token in tokens)
        {
            if (token.Content.Length == 0)
            {
                continue;
            }

            if (!byFirstChar.TryGetValue(token.Content[0], out List<AddedToken>? list))
            {
                byFirstChar[token.Content[0]] = list = [];
            }

            list.Add(token);
        }

        // Longest first so the first hit at a position is the longest one.
        foreach (List<AddedToken> list in byFirstChar.Values)
        {
            list.Sort((a, b) => b.Content.Length.CompareTo(a.Content.Length));
        }
    }

    /// <summary>A piece of split text: either plain text (<see cref="Token"/> null) or one added token.</summary>
    public readonly record struct Segment(string Text, AddedToken? Token);

    /// <summary>Splits <paramref name="text"/>; empty text segments are dropped (HF skips them too).</summary>
    public List<Segment> Split(string text)
    {
        var parts = new List<Segment>();
        int start = 0;
        for (int pos = 0; pos < text.Length; pos++)
        {
            AddedToken? match = MatchAt(text, pos);
            if (match is null)
            {
                continue;
            }

            parts.Add(new Segment(text[start..pos], null));
            parts.Add(new Segment(match.Content, match));
            pos += match.Content.Length - 1;
            start = pos + 1;
        }

        parts.Add(new Segment(text[start..], null));

        // The HF trie never yields empty pieces, so neighbours seen by the strip rules may be tokens.
        parts.RemoveAll(p => p.Text.Length == 0);
        ApplyStripRules(parts);
        parts.RemoveAll(p => p.Text.Length == 0);
        return parts;
    }

    AddedToken? MatchAt(string text, int pos)
    {
        if (!byFirstChar.TryGetValue(text[pos], out List<AddedToken>? candidates))
        {
            return null;
        }

        foreach (AddedToken candidate in candidates)
        {
            if (string.CompareOrdinal(text, pos, candidate.Content, 0, candidate.Content.Length) == 0)
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Same order of in-place edits as HF, so later tokens see earlier modifications.</summary>
    static void ApplyStripRules(List<Segment> parts)
    {
        for (int i = 0; i < parts.Count; i++)
        {
            AddedToken? token = parts[i].Token;
            if (token is null)
            {
                continue;
            }

            string? left = i > 0 && parts[i - 1].Text.Length > 0 ? parts[i - 1].Text : null;
            string? right = i < parts.Count - 1 && parts[i + 1].Text.Length > 0 ? parts[i + 1].Text : null;
            if (token.RightStrip && right is not null)
            {
                parts[i + 1] = Edited(parts[i + 1], TrimStartPython(right));
            }

            if (token.LeftStrip && left is not null)
            {
                parts[i - 1] = Edited(parts[i - 1], TrimEndPython(left));
            }

            // A single-word token glued to a word is not a token: merge it back into the text.
            if (token.SingleWord && left is not null && left[^1] != ' ')
            {
                parts[i - 1] = new Segment(parts[i - 1].Text + parts[i].Text, null);
                parts[i] = new Segment(string.Empty, null);
            }
            else if (token.SingleWord && right is not null && right[0] != ' ')
            {
                parts[i] = new Segment(parts[i].Text + parts[i + 1].Text, null);
                parts[i + 1] = new Segment(string.Empty, null);
            }
        }
    }

    /// <summary>HF compares strings with the token table, so an edited token string is plain text.</summary>
    static Segment Edited(Segment part, string text) =>
        text == part.Text ? part : new Segment(text, null);

    /// <summary>Python's <c>str.isspace</c> also counts the information separators U+001C..U+001F.</summary>
    static bool IsPythonSpace(char c) => char.IsWhiteSpace(c) || c is >= '\u001c' and <= '\u001f';

    static string TrimStartPython(string s)
    {
        int i = 0;
        while (i < s.Length && IsPythonSpace(s[i]))
        {
            i++;
        }

        return s[i..];
    }

    static string TrimEndPython(string s)
    {
        int i = s.Length;
        while (i > 0 && IsPythonSpace(s[i - 1]))
        {
            i--;
        }

        return s[..i];
    }
}
