using LlavaModal.Tokenizers.ByteLevel;

namespace LlavaModal.Tokenizers.Tests.ByteLevel;

/// <summary>
/// tokenizer.json (byte-level BPE) through <see cref="HfTokenizer"/>; the expected ids are derived by hand from the
/// merges of <see cref="ByteLevelFixture"/> (see its remarks for the vocabulary).
/// </summary>
public sealed class ByteLevelTokenizerTests
{
    static readonly Lazy<HfTokenizer> Llama3 = new(() => ByteLevelFixture.Load(ByteLevelFixture.Llama3(), ByteLevelFixture.LlamaConfig()));

    static readonly Lazy<HfTokenizer> Qwen2 = new(() => ByteLevelFixture.Load(ByteLevelFixture.Qwen2(), ByteLevelFixture.QwenConfig));

    public static TheoryData<string> RoundTripTexts() =>
    [
        "hello the world",
        "Hello, world! It's 12345 o'clock.",
        "café déjà vu, naïve Ærøskøbing",
        "日本語のテキストと中文",
        "emoji 😀👍🏽 and 🇫🇷 flags, 𝐀𝐁𝐂 math letters",
        "mixed\n\ttabs  and   spaces \r\n end ",
        "",
    ];

    [Fact]
    public void MergesApplyByRankNotByLength()
    {
        // "hello" = h e l l o. Candidate pairs and ranks: (h,e)=1, (e,l)=-, (l,l)=3, (l,o)=-.
        // Rank 1 first: [he, l, l, o]; then (he,l)=-, (l,l)=3, (l,o)=-: [he, ll, o]; then (he,ll)=-, (ll,o)=-: stop.
        // "ell" (rank 4) and "hello" (rank 6) are never reached because "he" took the 'e' first.
        Assert.Equal([257, 259, 111], Llama3.Value.Encode("hello", addSpecialTokens: false));
    }

    [Fact]
    public void EqualRanksMergeLeftmostFirst()
    {
        // "lll": (l,l) at positions 0 and 1 both have rank 3; HF merges the leftmost: [ll, l] = [259, 108].
        Assert.Equal([259, 108], Llama3.Value.Encode("lll", addSpecialTokens: false));

        // "llll": [ll, l, l] then the remaining (l,l) at position 1: [ll, ll].
        Assert.Equal([259, 259], Llama3.Value.Encode("llll", addSpecialTokens: false));

        // "ell": (e,l)=- and (l,l)=3 -> [e, ll]; then (e,ll)=4 -> [ell] = 260.
        Assert.Equal([260], Llama3.Value.Encode("ell", addSpecialTokens: false));
    }

    [Fact]
    public void IgnoreMergesTakesAWholeVocabularyPiece()
    {
        // With ignore_merges (as LLaMA-3's file has), the piece "hello" is itself a vocabulary entry (262).
        HfTokenizer t = ByteLevelFixture.Load(ByteLevelFixture.Llama3(ignoreMerges: true), ByteLevelFixture.LlamaConfig());
        Assert.Equal([262], t.Encode("hello", addSpecialTokens: false));

        // "hellos" is not in the vocabulary, so merges apply: [he, ll, o, s].
        Assert.Equal([257, 259, 111, 115], t.Encode("hellos", addSpecialTokens: false));
    }

    [Fact]
    public void SpaceJoinsTheFollowingWord()
    {
        // The Split regex keeps " the" together ([^\r\n\p{L}\p{N}]?\p{L}+); bytes Ġ t h e.
        // Pairs: (Ġ,t)=0, (t,h)=-, (h,e)=1 -> [Ġt, h, e]; then (Ġt,h)=-, (h,e)=1 -> [Ġt, he]; then (Ġt,he)=2 -> [Ġthe] = 258.
        Assert.Equal([258], Llama3.Value.Encode(" the", addSpecialTokens: false));

        // Without the space: (t,h)=-, (h,e)=1 -> [t, he] = [116, 257].
        Assert.Equal([116, 257], Llama3.Value.Encode("the", addSpecialTokens: false));

        // "hello the" splits into "hello" | " the": [he, ll, o] + [Ġthe].
        Assert.Equal([257, 259, 111, 258], Llama3.Value.Encode("hello the", addSpecialTokens: false));
    }

    [Fact]
    public void TheSplitRegexSeparatesDigitGroups()
    {
        // \p{N}{1,3} splits "12345" into "123" | "45", so the merge "3 4" (rank 8) cannot apply across them.
        Assert.Equal([49, 50, 51, 52, 53], Llama3.Value.Encode("12345", addSpecialTokens: false));

        // "34" alone is one piece: [34] = 264.
        Assert.Equal([264], Llama3.Value.Encode("34", addSpecialTokens: false));
    }

    [Fact]
    public void AccentsGoThroughTheByteAlphabet()
    {
        // "café" = c a f C3 A9; the byte characters of C3 A9 are 'Ã' '©', merged by rank 7 into 263.
        Assert.Equal([99, 97, 102, 263], Llama3.Value.Encode("café", addSpecialTokens: false));

        // "日" is E6 97 A5: no merges, one id per byte (id = byte value).
        Assert.Equal([0xE6, 0x97, 0xA5], Llama3.Value.Encode("日", addSpecialTokens: false));
    }

    [Fact]
    public void BosComesFromThePostProcessorTemplate()
    {
        HfTokenizer t = Llama3.Value;
        Assert.Equal([ByteLevelFixture.Bos, 257, 259, 111], t.Encode("hello"));
        Assert.Equal([ByteLevelFixture.Bos], t.Encode(string.Empty));
        Assert.Equal(ByteLevelFixture.Bos, t.BosTokenId);
        Assert.Equal(ByteLevelFixture.Eot, t.EosTokenId);
        Assert.Null(t.PadTokenId);
        Assert.Equal(269, t.VocabSize);
    }

    [Fact]
    public void Qwen2StyleAddsNothingAndNormalizesNfc()
    {
        HfTokenizer t = Qwen2.Value;
        Assert.Equal([257, 259, 111], t.Encode("hello"));
        Assert.Null(t.BosTokenId);
        Assert.Equal(ByteLevelFixture.Eot, t.PadTokenId);

        // "e" + U+0301 (combining acute) becomes "é" under NFC, hence the merged 263 as for "café".
        Assert.Equal([99, 97, 102, 263], t.Encode("cafe\u0301"));
    }

    [Fact]
    public void AddedTokensAreMatchedInsideText()
    {
        HfTokenizer t = Llama3.Value;

        // "hello" | <|eot_id|> | " the": [he, ll, o] 266 [Ġthe].
        Assert.Equal([ByteLevelFixture.Bos, 257, 259, 111, ByteLevelFixture.Eot, 258], t.Encode("hello<|eot_id|> the"));

        // "<image>" | "\n" | "the": the regex's \s*[\r\n]+ isolates "\n" (byte 0x0A = id 10), then [t, he].
        Assert.Equal([ByteLevelFixture.Image, 10, 116, 257], t.Encode("<image>\nthe", addSpecialTokens: false));

        // A non-special added token is matched too; "<tool" without '>' is plain text: < t o o l -> ids 60 116 111 111 108.
        Assert.Equal([ByteLevelFixture.Tool, 60, 116, 111, 111, 108], t.Encode("<tool><tool", addSpecialTokens: false));
    }

    [Fact]
    public void SpecialTokensAreSkippedOnRequestNonSpecialAddedTokensAreNot()
    {
        HfTokenizer t = Llama3.Value;
        IReadOnlyList<int> ids = t.Encode("<image>\nhello<tool> the<|eot_id|>");
        Assert.Equal("<|begin_of_text|><image>\nhello<tool> the<|eot_id|>", t.Decode(ids));
        Assert.Equal("\nhello<tool> the", t.Decode(ids, skipSpecialTokens: true));
        Assert.True(t.IsSpecial(ByteLevelFixture.Image));
        Assert.False(t.IsSpecial(ByteLevelFixture.Tool));
        Assert.Equal("Ġthe", t.IdToToken(258));
        Assert.Equal(258, t.TokenToId("Ġthe"));
        Assert.Equal(ByteLevelFixture.Tool, t.AddedTokens["<tool>"]);
        Assert.Throws<ArgumentOutOfRangeException>(() => t.IdToToken(269));
    }

    [Theory]
    [MemberData(nameof(RoundTripTexts))]
    public void DecodeInvertsEncode(string text)
    {
        foreach (HfTokenizer t in new[] { Llama3.Value, Qwen2.Value })
        {
            Assert.Equal(text, t.Decode(t.Encode(text, addSpecialTokens: false)));
            Assert.Equal(text, t.Decode(t.Encode(text), skipSpecialTokens: true));
        }
    }

    [Theory]
    [MemberData(nameof(RoundTripTexts))]
    public void StreamingChunksConcatenateToDecode(string text)
    {
        HfTokenizer t = Llama3.Value;
        IReadOnlyList<int> ids = t.Encode(text + "<|eot_id|>");
        foreach (bool skip in new[] { false, true })
        {
            StreamingDetokenizer decoder = t.CreateStreamingDecoder(skip);
            var chunks = ids.Select(decoder.Push).ToList();
            chunks.Add(decoder.Flush());
            Assert.Equal(t.Decode(ids, skip), string.Concat(chunks));
            Assert.All(chunks, c => Assert.DoesNotContain('\uFFFD', c));
            Assert.All(chunks, c => Assert.False(c.Length > 0 && char.IsHighSurrogate(c[^1]), "a chunk ends inside a surrogate pair"));
        }
    }

    [Fact]
    public void StreamingHoldsIncompleteUtf8()
    {
        // "日" is three byte tokens: nothing until the third arrives.
        StreamingDetokenizer decoder = Llama3.Value.CreateStreamingDecoder();
        Assert.Equal(string.Empty, decoder.Push(0xE6));
        Assert.Equal(string.Empty, decoder.Push(0x97));
        Assert.Equal("日", decoder.Push(0xA5));

        // A dangling lead byte becomes U+FFFD only at the end, as in Decode.
        Assert.Equal(string.Empty, decoder.Push(0xE6));
        Assert.Equal("\uFFFD", decoder.Flush());
        Assert.Equal("\uFFFD", Llama3.Value.Decode([0xE6]));
    }

    [Fact]
    public void CleanUpTokenizationSpacesIsAppliedInBatchAndStream()
    {
        HfTokenizer t = ByteLevelFixture.Load(ByteLevelFixture.Llama3(), ByteLevelFixture.LlamaConfig(cleanUp: true));
        string text = "Hello , world . Is n't it ? I 'm sure they 're here ! Long text follows to pass the hold-back window , yes .";
        IReadOnlyList<int> ids = t.Encode(text, addSpecialTokens: false);
        string expected = "Hello, world. Isn't it? I'm sure they're here! Long text follows to pass the hold-back window, yes.";
        Assert.Equal(expected, t.Decode(ids));

        StreamingDetokenizer decoder = t.CreateStreamingDecoder();
        var chunks = ids.Select(decoder.Push).ToList();
        Assert.NotEqual(string.Empty, string.Concat(chunks)); // text flows before the end
        chunks.Add(decoder.Flush());
        Assert.Equal(expected, string.Concat(chunks));
    }

    [Fact]
    public void StreamingMatchesDecodeForRandomIds()
    {
        // Random byte tokens (invalid UTF-8 included), merged tokens and added tokens, with and without clean-up:
        // the stream must always concatenate to Decode, the stateful UTF-8 decoder replacing exactly as the batch one.
        HfTokenizer cleanUp = ByteLevelFixture.Load(ByteLevelFixture.Llama3(), ByteLevelFixture.LlamaConfig(cleanUp: true));
        int[] punctuation = [32, 46, 39, 110, 116, 115, 109, 63, 33, 44, 120, 258, 118, 101, 114];
        var random = new Random(1234);
        for (int round = 0; round < 300; round++)
        {
            HfTokenizer t = round % 2 == 0 ? Llama3.Value : cleanUp;
            int[] ids = Enumerable.Range(0, random.Next(1, 80))
                .Select(_ => round % 3 == 0 ? random.Next(0, 269) : punctuation[random.Next(punctuation.Length)])
                .ToArray();
            foreach (bool skip in new[] { false, true })
            {
                StreamingDetokenizer decoder = t.CreateStreamingDecoder(skip);
                string streamed = string.Concat(ids.Select(decoder.Push)) + decoder.Flush();
                Assert.Equal(t.Decode(ids, skip), streamed);
            }
        }
    }

    [Fact]
    public void PlaceholdersGetNewSpecialIds()
    {
        HfTokenizer t = Llama3.Value.WithPlaceholders(["<image>", "<audio>"]);
        Assert.Equal(269, t.TokenToId("<audio>"));
        Assert.Equal(270, t.VocabSize);
        Assert.True(t.IsSpecial(269));
        Assert.Equal([ByteLevelFixture.Bos, 257, 259, 111, 269, ByteLevelFixture.Image], t.Encode("hello<audio><image>"));
        Assert.Equal("hello", t.Decode(t.Encode("hello<audio>"), skipSpecialTokens: true));
    }

    [Theory]
    [InlineData("a𝐀b", new[] { 0, 4 })]            // one letter run: HF sees 𝐀 (U+1D400) as \p{L}
    [InlineData("😀abc", new[] { 0, 5 })]           // the emoji is the optional non-letter prefix of the letter run
    [InlineData("x 😀 y", new[] { 0, 1, 1, 3, 4, 2 })] // "x" | " 😀" | " y"
    public void PreTokenizerSeesCodePointsNotSurrogates(string text, int[] expected)
    {
        var pre = new SplitPreTokenizer([new System.Text.RegularExpressions.Regex(ByteLevelFixture.Llama3Pattern)]);
        Assert.Equal(expected, pre.Split(text).SelectMany(p => new[] { p.Offset, p.Length }).ToArray());
    }
}
