using System.Text;

namespace LlavaModal.Tokenizers.SentencePiece;

/// <summary>
/// BPE by merge rank, as Hugging Face's <c>tokenizers</c> runs a <c>tokenizer.json</c> model: a word starts as one
/// symbol per character (a character without a token becomes its UTF-8 <c>&lt;0xNN&gt;</c> byte tokens with
/// <c>byte_fallback</c>, else the unknown token, consecutive ones fused with <c>fuse_unk</c>), then the adjacent pair with
/// the lowest merge rank is merged, leftmost first on ties, until no pair has a merge.
/// </summary>
/// <remarks>
/// This is not <see cref="SentencePieceBpe"/> (which merges by piece score as <c>tokenizer.model</c> does): a
/// <c>tokenizer.json</c> carries ranks, and the reference applies them.
/// </remarks>
sealed class MergeBpe
{
    readonly IReadOnlyDictionary<string, int> vocabulary;
    readonly Dictionary<(int Left, int Right), (int Rank, int Id)> merges = [];
    readonly int[]? byteIds;
    readonly int? unkId;
    readonly bool fuseUnknown;
    readonly bool ignoreMerges;

    public MergeBpe(SentencePieceJson json)
    {
        vocabulary = json.Vocabulary;
        for (int rank = 0; rank < json.Merges.Count; rank++)
        {
            (string left, string right) = json.Merges[rank];
            // A pair listed twice keeps its first (best) rank, as the reference's map does.
            merges.TryAdd((vocabulary[left], vocabulary[right]), (rank, vocabulary[left + right]));
        }

        if (json.ByteFallback)
        {
            var ids = new int[256];
            bool complete = true;
            for (int b = 0; b < 256 && complete; b++)
            {
                complete = vocabulary.TryGetValue($"<0x{b:X2}>", out ids[b]);
            }

            // The reference falls back to bytes only when every byte of the character has a token.
            byteIds = complete ? ids : null;
            PartialByteTokens = !complete && Enumerable.Range(0, 256).Any(b => vocabulary.ContainsKey($"<0x{b:X2}>"));
        }

        unkId = json.UnknownToken is string unk ? vocabulary[unk] : null;
        fuseUnknown = json.FuseUnknown;
        ignoreMerges = json.IgnoreMerges;
    }

    /// <summary>Some but not all byte tokens exist: byte fallback then works per character, which is not reproduced.</summary>
    public bool PartialByteTokens { get; }

    /// <summary>Appends the ids of <paramref name="word"/>.</summary>
    public void Encode(string word, List<int> ids)
    {
        if (word.Length == 0)
        {
            return;
        }

        if (ignoreMerges && vocabulary.TryGetValue(word, out int whole))
        {
            ids.Add(whole);
            return;
        }

        List<int> symbols = InitialSymbols(word);
        Merge(symbols);
        foreach (int id in symbols)
        {
            if (id >= 0)
            {
                ids.Add(id);
            }
        }
    }

    List<int> InitialSymbols(string word)
    {
        var symbols = new List<int>(word.Length);
        bool previousUnknown = false;
        Span<byte> utf8 = stackalloc byte[4];
        foreach (Rune rune in word.EnumerateRunes())
        {
            if (vocabulary.TryGetValue(rune.ToString(), out int id))
            {
                symbols.Add(id);
                previousUnknown = false;
                continue;
            }

            if (byteIds is not null)
            {
                int n = rune.EncodeToUtf8(utf8);
                for (int i = 0; i < n; i++)
                {
                    symbols.Add(byteIds[utf8[i]]);
                }

                previousUnknown = false;
                continue;
            }

            // Loading refused files with neither an unknown token nor complete byte fallback.
            if (!(fuseUnknown && previousUnknown))
            {
                symbols.Add(unkId!.Value);
            }

            previousUnknown = true;
        }

        return symbols;
    }

    /// <summary>Merges in place (merged-away symbols become -1), lowest rank first, leftmost on ties.</summary>
    void Merge(List<int> symbols)
    {
        int n = symbols.Count;
        if (n < 2)
        {
            return;
        }

        // Doubly linked list over positions; a queued pair is checked against the current symbols when it comes out.
        var next = new int[n];
        var previous = new int[n];
        for (int i = 0; i < n; i++)
        {
            next[i] = i + 1 < n ? i + 1 : -1;
            previous[i] = i - 1;
        }

        var queue = new PriorityQueue<(int Position, int Id), (int Rank, int Position)>();
        for (int i = 0; i + 1 < n; i++)
        {
            Enqueue(queue, symbols, i, i + 1);
        }

        while (queue.TryDequeue(out (int Position, int Id) top, out _))
        {
            int left = top.Position;
            int right = symbols[left] < 0 ? -1 : next[left];
            if (right < 0 || !merges.TryGetValue((symbols[left], symbols[right]), out (int Rank, int Id) merge) || merge.Id != top.Id)
            {
                continue; // stale: one side was merged since this pair was queued
            }

            symbols[left] = merge.Id;
            symbols[right] = -1;
            next[left] = next[right];
            if (next[right] >= 0)
            {
                previous[next[right]] = left;
            }

            if (previous[left] >= 0)
            {
                Enqueue(queue, symbols, previous[left], left);
            }

            if (next[left] >= 0)
            {
                Enqueue(queue, symbols, left, next[left]);
            }
        }
    }

    void Enqueue(PriorityQueue<(int, int), (int, int)> queue, List<int> symbols, int left, int right)
    {
        if (merges.TryGetValue((symbols[left], symbols[right]), out (int Rank, int Id) merge))
        {
            queue.Enqueue((left, merge.Id), (merge.Rank, left));
        }
    }
}
