using System.Text;

namespace LlavaModal.Tokenizers.SentencePiece;

/// <summary>
/// SentencePiece's BPE encoder (<c>bpe_model.cc</c>): repeatedly merge the adjacent pair whose merged piece has
/// the highest score, the leftmost pair winning ties; unknown symbols fall back to byte pieces.
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers 2.0.1 breaks score ties rightmost-first, so runs of identical symbols (three or more
/// spaces, "...", "000") come out in a different order than with SentencePiece and HF; hence this class.
/// Input must already be normalized (spaces escaped as "▁", dummy prefix added if wanted).
/// </remarks>
sealed class SentencePieceBpe
{
    readonly SentencePieceModel model;
    readonly Dictionary<string, int> mergeable = new(StringComparer.Ordinal);
    readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> mergeableLookup;
    readonly List<string> userDefined = [];
    readonly int[] byteIds = Enumerable.Repeat(-1, 256).ToArray();

    public SentencePieceBpe(SentencePieceModel model)
    {
        this.model = model;
        for (int id = 0; id < model.Pieces.Count; id++)
        {
            switch (model.Types[id])
            {
                // SentencePiece lets normal, user-defined and unused pieces take part in merges.
                case SentencePieceModel.PieceType.Normal or SentencePieceModel.PieceType.UserDefined or SentencePieceModel.PieceType.Unused:
                    mergeable.TryAdd(model.Pieces[id], id);
                    if (model.Types[id] == SentencePieceModel.PieceType.UserDefined)
                    {
                        userDefined.Add(model.Pieces[id]);
                    }

                    break;
                case SentencePieceModel.PieceType.Byte when HfTokenizer.ByteOfPiece(model.Pieces[id]) is int b and >= 0:
                    byteIds[b] = id;
                    break;
            }
        }

        userDefined.Sort((a, b) => b.Length.CompareTo(a.Length));
        mergeableLookup = mergeable.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    struct Symbol
    {
        public int Prev;
        public int Next;
        public int Start;
        public int Length;
        public bool Frozen; // user-defined pieces are never merged further
    }

    public void Encode(string text, List<int> ids)
    {
        if (text.Length == 0)
        {
            return;
        }

        var symbols = new List<Symbol>(text.Length);
        for (int pos = 0; pos < text.Length;)
        {
            int length = UserDefinedAt(text, pos);
            bool frozen = length > 0;
            if (!frozen)
            {
                length = char.IsHighSurrogate(text[pos]) && pos + 1 < text.Length && char.IsLowSurrogate(text[pos + 1]) ? 2 : 1;
            }

            symbols.Add(new Symbol { Prev = symbols.Count - 1, Next = pos + length < text.Length ? symbols.Count + 1 : -1, Start = pos, Length = length, Frozen = frozen });
            pos += length;
        }

        // Priority: higher score first, then the smaller left index (SentencePiece's comparator).
        var agenda = new PriorityQueue<(int Left, int Right, int Length), (float Score, int Left)>(
            Comparer<(float Score, int Left)>.Create((a, b) => a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Left.CompareTo(b.Left)));
        Dictionary<(int Start, int Length), (int LeftLength, int RightLength)>? splits = null;

        void TryAdd(int left, int right)
        {
            if (left < 0 || right < 0 || symbols[left].Frozen || symbols[right].Frozen)
            {
                return;
            }

            int length = symbols[left].Length + symbols[right].Length;
            if (mergeableLookup.TryGetValue(text.AsSpan(symbols[left].Start, length), out int id))
            {
                agenda.Enqueue((left, right, length), (model.Scores[id], left));
            }
        }

        for (int i = 1; i < symbols.Count; i++)
        {
            TryAdd(i - 1, i);
        }

        while (agenda.TryDequeue(out (int Left, int Right, int Length) pair, out _))
        {
            Symbol left = symbols[pair.Left];
            Symbol right = symbols[pair.Right];
            if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != pair.Length)
            {
                continue; // stale: one side was merged away since this pair was queued
            }

            int id = mergeableLookup[text.AsSpan(left.Start, pair.Length)];
            if (model.Types[id] == SentencePieceModel.PieceType.Unused)
            {
                (splits ??= [])[(left.Start, pair.Length)] = (left.Length, right.Length);
            }

            left.Length = pair.Length;
            left.Next = right.Next;
            symbols[pair.Left] = left;
            if (right.Next >= 0)
            {
                Symbol after = symbols[right.Next];
                after.Prev = pair.Left;
                symbols[right.Next] = after;
            }

            right.Length = 0;
            symbols[pair.Right] = right;
            TryAdd(left.Prev, pair.Left);
            TryAdd(pair.Left, left.Next);
        }

        for (int i = 0; i >= 0; i = symbols[i].Next)
        {
            Emit(text, symbols[i].Start, symbols[i].Length, splits, ids);
        }
    }

    void Emit(string text, int start, int length, Dictionary<(int, int), (int LeftLength, int RightLength)>? splits, List<int> ids)
    {
        ReadOnlySpan<char> piece = text.AsSpan(start, length);
        if (mergeableLookup.TryGetValue(piece, out int id))
        {
            // Unused pieces may appear as merge steps but are split back into the pieces they came from.
            if (model.Types[id] == SentencePieceModel.PieceType.Unused && splits is not null && splits.TryGetValue((start, length), out var split))
            {
                Emit(text, start, split.LeftLength, splits, ids);
                Emit(text, start + split.LeftLength, split.RightLength, splits, ids);
                return;
            }

            if (model.Types[id] != SentencePieceModel.PieceType.Unused)
            {
                ids.Add(id);
                return;
            }
        }

        if (model.ByteFallback)
        {
            Span<byte> buffer = stackalloc byte[Encoding.UTF8.GetMaxByteCount(piece.Length)];
            int count = Encoding.UTF8.GetBytes(piece, buffer);
            foreach (byte b in buffer[..count])
            {
                ids.Add(byteIds[b] >= 0 ? byteIds[b] : model.UnkId);
            }
        }
        else
        {
            ids.Add(model.UnkId);
        }
    }

    int UserDefinedAt(string text, int pos)
    {
        foreach (string piece in userDefined)
        {
            if (string.CompareOrdinal(text, pos, piece, 0, piece.Length) == 0)
            {
                return piece.Length;
            }
        }

        return 0;
    }
}
