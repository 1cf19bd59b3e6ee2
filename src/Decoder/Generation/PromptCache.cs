using LlavaModal.Abstractions.Decoding;

namespace LlavaModal.Decoder.Generation;

/// <summary>
/// Keys and values of finished sequences, kept so that a later prompt starting with the same positions (the same tokens
/// and the same media) loads them instead of recomputing them: a chat's second turn does not pay for its image again.
/// Bounded by bytes (least recently used entries go first) and by entry count (lookups scan every entry). An entry
/// whose keys start another's is dropped in favour of the longer one. Used by the engine's worker thread only; the
/// counters may be read from any thread.
/// </summary>
sealed class PromptCache : IDisposable
{
    /// <summary>Most entries kept: a lookup compares the prompt with each, so the scan stays short.</summary>
    public const int MaxEntries = 64;

    readonly LinkedList<Entry> entries = []; // most recently used first
    long bytes, hits, reusedTokens, bytesPerPosition;
    int count;

    /// <param name="capacityBytes">Most bytes of keys and values held.</param>
    public PromptCache(long capacityBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityBytes, 1);
        CapacityBytes = capacityBytes;
    }

    /// <summary>Most bytes held.</summary>
    public long CapacityBytes { get; }

    /// <summary>Bytes held now.</summary>
    public long Bytes => Interlocked.Read(ref bytes);

    /// <summary>Entries held now.</summary>
    public int Count => Volatile.Read(ref count);

    /// <summary>Prompts that reused a cached prefix.</summary>
    public long Hits => Interlocked.Read(ref hits);

    /// <summary>Positions loaded instead of computed, in all.</summary>
    public long ReusedTokens => Interlocked.Read(ref reusedTokens);

    /// <summary>
    /// The entry sharing the longest prefix with <paramref name="keys"/>, and how many positions it covers (at most
    /// <paramref name="limit"/>: the last prompt position is always computed, for its logits); (null, 0) when none.
    /// </summary>
    public (CachedPrefix? Prefix, long Length) Find(IReadOnlyList<ulong> keys, long limit)
    {
        ArgumentNullException.ThrowIfNull(keys);
        LinkedListNode<Entry>? best = null;
        long bestLength = 0;
        for (var node = entries.First; node is not null; node = node.Next)
        {
            long shared = Shared(node.Value.Keys, keys, Math.Min(limit, node.Value.Prefix.Length));
            if (shared > bestLength) (best, bestLength) = (node, shared);
        }
        if (best is null) return (null, 0);
        entries.Remove(best);
        entries.AddFirst(best);
        Interlocked.Increment(ref hits);
        Interlocked.Add(ref reusedTokens, bestLength);
        return (best.Value.Prefix, bestLength);
    }

    /// <summary>
    /// Keeps the first <paramref name="keys"/>.Count positions of a sequence, saved by <paramref name="save"/> only when
    /// worth it: not when an entry already holds them (as its prefix), nor when they could never fit.
    /// </summary>
    public void Add(IReadOnlyList<ulong> keys, Func<CachedPrefix> save)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(save);
        if (keys.Count == 0) return;
        for (var node = entries.First; node is not null; node = node.Next)
        {
            if (node.Value.Keys.Length >= keys.Count && Shared(node.Value.Keys, keys, keys.Count) == keys.Count)
            {
                entries.Remove(node);
                entries.AddFirst(node);
                return;
            }
        }
        if (bytesPerPosition > 0 && keys.Count * bytesPerPosition > CapacityBytes) return;
        var prefix = save();
        bytesPerPosition = prefix.Bytes / Math.Max(1, prefix.Length);
        if (prefix.Bytes > CapacityBytes)
        {
            prefix.Dispose();
            return;
        }
        // Entries the new one extends are covered by it.
        for (var node = entries.First; node is not null;)
        {
            var next = node.Next;
            if (node.Value.Keys.Length <= keys.Count && Shared(node.Value.Keys, keys, node.Value.Keys.Length) == node.Value.Keys.Length) Drop(node);
            node = next;
        }
        entries.AddFirst(new Entry([.. keys], prefix));
        Interlocked.Add(ref bytes, prefix.Bytes);
        Volatile.Write(ref count, entries.Count);
        while (entries.Count > MaxEntries || Bytes > CapacityBytes) Drop(entries.Last!);
    }

    static long Shared(IReadOnlyList<ulong> a, IReadOnlyList<ulong> b, long limit)
    {
        long n = Math.Min(limit, Math.Min(a.Count, b.Count));
        long i = 0;
        while (i < n && a[(int)i] == b[(int)i]) i++;
        return i;
    }

    void Drop(LinkedListNode<Entry> node)
    {
        entries.Remove(node);
        Interlocked.Add(ref bytes, -node.Value.Prefix.Bytes);
        Volatile.Write(ref count, entries.Count);
        node.Value.Prefix.Dispose();
    }

    /// <summary>Releases every entry and zeroes the counters, as if no prompt had run (a server's warm-up leaves no trace).</summary>
    public void Clear()
    {
        Dispose();
        Interlocked.Exchange(ref hits, 0);
        Interlocked.Exchange(ref reusedTokens, 0);
    }

    /// <summary>Releases every entry.</summary>
    public void Dispose()
    {
        while (entries.First is { } node) Drop(node);
    }

    sealed record Entry(ulong[] Keys, CachedPrefix Prefix);
}
