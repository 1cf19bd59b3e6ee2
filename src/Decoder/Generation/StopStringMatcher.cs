namespace LlavaModal.Decoder.Generation;

/// <summary>
/// Watches streamed text for stop strings. Text that could still turn out to be the start of a stop string is
/// held back, so a streaming consumer never sees characters that the final answer does not contain.
/// </summary>
sealed class StopStringMatcher(IReadOnlyList<string> stops)
{
    readonly System.Text.StringBuilder text = new();
    int released;

    /// <summary>True once a stop string has been seen.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Everything accepted so far (cut before the stop string once <see cref="Stopped"/>).</summary>
    public string Text => text.ToString();

    /// <summary>Adds new text and returns the part that is now safe to release.</summary>
    public string Push(string chunk)
    {
        if (Stopped || chunk.Length == 0) return "";
        int searchFrom = Math.Max(0, text.Length - stops.Select(s => s.Length).DefaultIfEmpty(0).Max());
        text.Append(chunk);
        var all = text.ToString();
        int cut = -1;
        foreach (var stop in stops)
        {
            int at = all.IndexOf(stop, searchFrom, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut >= 0)
        {
            Stopped = true;
            text.Length = cut;
            return Release(cut);
        }
        return Release(all.Length - LongestPendingPrefix(all));
    }

    /// <summary>Releases whatever is still held (at the end of generation).</summary>
    public string Flush() => Release(text.Length);

    string Release(int upTo)
    {
        if (upTo <= released) return "";
        var s = text.ToString(released, upTo - released);
        released = upTo;
        return s;
    }

    int LongestPendingPrefix(string all)
    {
        int longest = 0;
        foreach (var stop in stops)
            for (int n = Math.Min(stop.Length - 1, all.Length); n > longest; n--)
                if (string.CompareOrdinal(all, all.Length - n, stop, 0, n) == 0) { longest = n; break; }
        // Never split a surrogate pair when holding back.
        if (longest < all.Length && longest > 0 && char.IsLowSurrogate(all[all.Length - longest])) longest++;
        return longest;
    }
}
