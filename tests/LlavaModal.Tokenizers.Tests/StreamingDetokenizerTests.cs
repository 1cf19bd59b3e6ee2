namespace LlavaModal.Tokenizers.Tests;

public class StreamingDetokenizerTests
{
    public static IEnumerable<object[]> Cases() => TokenizerFixtures.CaseRows();

    static HfTokenizer Tokenizer => TokenizerFixtures.Cases.Value;

    static List<string> Stream(HfTokenizer t, IEnumerable<int> ids, bool skip)
    {
        StreamingDetokenizer decoder = t.CreateStreamingDecoder(skip);
        var chunks = ids.Select(decoder.Push).ToList();
        chunks.Add(decoder.Flush());
        return chunks;
    }

    static bool IsWellFormed(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(s[i]))
            {
                return false;
            }
        }

        return true;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ChunksConcatenateToDecode(int index, string label)
    {
        string text = TokenizerFixtures.Case(index).GetProperty("text").GetString()!;
        foreach (bool addSpecial in new[] { true, false })
        {
            IReadOnlyList<int> ids = Tokenizer.Encode(text, addSpecial);
            foreach (bool skip in new[] { true, false })
            {
                List<string> chunks = Stream(Tokenizer, ids, skip);
                Assert.True(Tokenizer.Decode(ids, skip) == string.Concat(chunks), $"{label} (bos {addSpecial}, skip {skip})");
                Assert.All(chunks, c => Assert.True(IsWellFormed(c) && !c.Contains('\uFFFD'), $"{label}: chunk '{c}'"));
            }
        }
    }

    [Fact]
    public void MultiByteCharactersAreHeldUntilComplete()
    {
        // "€" is <0xE2><0x82><0xAC> in this vocabulary: nothing may be emitted before the third byte.
        IReadOnlyList<int> ids = Tokenizer.Encode("€", addSpecialTokens: false);
        Assert.Equal([371, 229, 133, 175], ids);
        StreamingDetokenizer decoder = Tokenizer.CreateStreamingDecoder(false);
        Assert.Equal(string.Empty, decoder.Push(371));
        Assert.Equal(string.Empty, decoder.Push(229));
        Assert.Equal(string.Empty, decoder.Push(133));
        Assert.Equal("€", decoder.Push(175));
        Assert.Equal(string.Empty, decoder.Flush());
    }

    [Fact]
    public void TextIsEmittedAsSoonAsItIsFinal()
    {
        IReadOnlyList<int> ids = Tokenizer.Encode("Hello world", addSpecialTokens: false);
        List<string> chunks = Stream(Tokenizer, ids, false);
        Assert.Equal(["", "H", "ell", "o", " w", "or", "ld", ""], chunks);
    }

    [Fact]
    public void InvalidBytesBecomeReplacementCharactersLikeSentencePiece()
    {
        // A truncated 3-byte sequence followed by text: SentencePiece yields one U+FFFD per byte.
        int[] ids = [229, 133, 430];
        Assert.Equal("\uFFFD\uFFFDH", Tokenizer.Decode(ids));
        Assert.Equal("\uFFFD\uFFFDH", string.Concat(Stream(Tokenizer, ids, false)));

        // Pending bytes at the end of the stream are flushed the same way.
        StreamingDetokenizer decoder = Tokenizer.CreateStreamingDecoder(false);
        Assert.Equal(string.Empty, decoder.Push(229));
        Assert.Equal("\uFFFD", decoder.Flush());
        Assert.Throws<InvalidOperationException>(() => decoder.Push(430));
    }

    [Fact]
    public void GeneratedSequencesWithSpecialTokensStreamLikeDecode()
    {
        HfTokenizer t = TokenizerFixtures.LlavaTiny.Value;
        int[][] sequences =
        [
            [113, 315, 507, 500, 116, 475, 41, 333, 448, 468, 389, 123, 113, 78, 505, 335, 1, 214, 458, 24],
            [510, 371], [510, 371, 510, 259], [371, 510, 1, 430, 2], [511, 275, 1, 371, 13],
        ];
        foreach (int[] ids in sequences)
        {
            foreach (bool skip in new[] { true, false })
            {
                Assert.Equal(t.Decode(ids, skip), string.Concat(Stream(t, ids, skip)));
            }
        }
    }
}
