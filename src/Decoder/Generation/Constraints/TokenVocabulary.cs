using System.Runtime.CompilerServices;
using LlavaModal.Tokenizers;

namespace LlavaModal.Decoder.Generation.Constraints;

/// <summary>
/// A tokenizer's vocabulary as a byte trie (token texts sharing a prefix share its path), so that a grammar walks
/// each prefix once for all tokens that start with it. Added and special tokens are left out: constrained output is
/// plain text. Built once per tokenizer.
/// </summary>
sealed class TokenVocabulary
{
    static readonly ConditionalWeakTable<HfTokenizer, TokenVocabulary> Built = [];

    readonly int[] firstChild;
    readonly int[] childCount;
    readonly byte[] childBytes;
    readonly int[] childNodes;
    readonly int[][] tokens;

    TokenVocabulary(int size, IReadOnlyList<(byte[] Bytes, int Id)> entries)
    {
        Size = size;
        // Sorted token texts give each node's children contiguously and in byte order.
        var sorted = entries.OrderBy(e => e.Bytes, ByteComparer.Instance).ToArray();
        var children = new List<List<(byte, int)>> { new() };
        var ends = new List<List<int>> { new() };
        foreach (var (bytes, id) in sorted)
        {
            int node = 0;
            foreach (byte b in bytes)
            {
                var list = children[node];
                if (list.Count > 0 && list[^1].Item1 == b) node = list[^1].Item2;
                else
                {
                    children.Add([]);
                    ends.Add([]);
                    list.Add((b, children.Count - 1));
                    node = children.Count - 1;
                }
            }
            ends[node].Add(id);
        }
        firstChild = new int[children.Count];
        childCount = new int[children.Count];
        childBytes = new byte[children.Count - 1];
        childNodes = new int[children.Count - 1];
        int next = 0;
        for (int n = 0; n < children.Count; n++)
        {
            firstChild[n] = next;
            childCount[n] = children[n].Count;
            foreach (var (b, child) in children[n])
            {
                childBytes[next] = b;
                childNodes[next++] = child;
            }
        }
        tokens = [.. ends.Select(e => e.ToArray())];
        SingleBytes = entries.Where(e => e.Bytes.Length == 1).Select(e => e.Bytes[0]).Distinct().Count();
    }

    /// <summary>No tokens (for matching text directly).</summary>
    public static TokenVocabulary Empty { get; } = new(0, []);

    /// <summary>Ids 0..Size-1: the tokenizer's vocabulary.</summary>
    public int Size { get; }

    /// <summary>How many distinct bytes a one-byte token stands for (256 means any output can be finished).</summary>
    public int SingleBytes { get; }

    /// <summary>The vocabulary of <paramref name="tokenizer"/>, built on first use.</summary>
    public static TokenVocabulary For(HfTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return Built.GetValue(tokenizer, t =>
        {
            var entries = new List<(byte[], int)>(t.VocabSize);
            for (int id = 0; id < t.VocabSize; id++)
                if (t.TextBytes(id) is { Length: > 0 } bytes) entries.Add((bytes, id));
            return new TokenVocabulary(t.VocabSize, entries);
        });
    }

    internal int FirstChild(int node) => firstChild[node];

    internal int ChildCount(int node) => childCount[node];

    internal byte ChildByte(int edge) => childBytes[edge];

    internal int ChildNode(int edge) => childNodes[edge];

    internal int[] TokensAt(int node) => tokens[node];

    sealed class ByteComparer : IComparer<byte[]>
    {
        public static readonly ByteComparer Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
