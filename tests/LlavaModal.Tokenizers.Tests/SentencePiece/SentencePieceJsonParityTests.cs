using System.Text.Json;

namespace LlavaModal.Tokenizers.Tests.SentencePiece;

/// <summary>
/// SentencePiece-style <c>tokenizer.json</c> against the reference (<c>@huggingface/tokenizers</c>, see
/// <c>tests/fixtures/tokenizer-json/README.md</c>): ids with and without special tokens, decode with and without
/// skipping special tokens, and streaming decode, on Mistral-7B's real file as shipped (Prepend/Replace normalizer,
/// i.e. legacy) and with the Metaspace pre-tokenizer transformers writes for legacy=false.
/// </summary>
public sealed class SentencePieceJsonParityTests
{
    public static IEnumerable<object[]> Rows() =>
        TokenizerJsonFixture.MistralRows("as-shipped")
            .Concat(TokenizerJsonFixture.MistralRows("metaspace-first"))
            .Concat(TokenizerJsonFixture.MistralRows("metaspace-always"));

    [Theory]
    [MemberData(nameof(Rows))]
    public void MistralMatchesTheReference(string variant, int index)
    {
        JsonElement c = TokenizerJsonFixture.Variant(variant).GetProperty("cases")[index];
        HfTokenizer tokenizer = TokenizerJsonFixture.MistralVariant(variant);
        string text = c.GetProperty("text").GetString()!;
        int[] ids = TokenizerFixtures.Ints(c.GetProperty("ids"));

        Assert.Equal(ids, tokenizer.Encode(text));
        Assert.Equal(TokenizerFixtures.Ints(c.GetProperty("ids_no_special")), tokenizer.Encode(text, addSpecialTokens: false));
        Assert.Equal(c.GetProperty("decoded").GetString(), tokenizer.Decode(ids));
        Assert.Equal(c.GetProperty("decoded_skip_special").GetString(), tokenizer.Decode(ids, skipSpecialTokens: true));

        StreamingDetokenizer stream = tokenizer.CreateStreamingDecoder();
        string streamed = string.Concat(ids.Select(stream.Push)) + stream.Flush();
        Assert.Equal(c.GetProperty("decoded").GetString(), streamed);
    }

    [Fact]
    public void MistralKnowsItsSpecialTokens()
    {
        HfTokenizer tokenizer = TokenizerJsonFixture.MistralVariant("as-shipped");
        Assert.Equal(32000, tokenizer.VocabSize);
        Assert.Equal(1, tokenizer.BosTokenId);
        Assert.Equal(2, tokenizer.EosTokenId);
        Assert.Equal(0, tokenizer.UnkTokenId);
        Assert.Null(tokenizer.PadTokenId);
        Assert.True(tokenizer.IsSpecial(2));
        Assert.False(tokenizer.IsSpecial(28705));
        Assert.Equal("▁Hello", tokenizer.IdToToken(22557));
        Assert.Equal(22557, tokenizer.TokenToId("▁Hello"));
    }

    [Fact]
    public void APartialByteRunDecodesToReplacementCharacters()
    {
        // <0xE4> <0xBD> is the start of a three-byte character cut short: each byte becomes U+FFFD, as in the reference.
        HfTokenizer tokenizer = TokenizerJsonFixture.MistralVariant("as-shipped");
        int e4 = tokenizer.TokenToId("<0xE4>")!.Value, bd = tokenizer.TokenToId("<0xBD>")!.Value;
        Assert.Equal("a\uFFFD\uFFFDb", tokenizer.Decode([tokenizer.TokenToId("▁a")!.Value, e4, bd, tokenizer.TokenToId("b")!.Value]));
    }

    [Fact]
    public void PlaceholdersBecomeSpecialTokensAfterTheVocabulary()
    {
        HfTokenizer tokenizer = TokenizerJsonFixture.MistralVariant("as-shipped").WithPlaceholders(["<image>"]);
        Assert.Equal(32000, tokenizer.TokenToId("<image>"));
        Assert.Equal([1, 32000], tokenizer.Encode("<image>\n").Take(2));
        Assert.True(tokenizer.IsSpecial(32000));
    }

    [Fact]
    public void ALongTextWithoutPreTokenizerRoundTrips()
    {
        // The legacy file has no pre-tokenizer, so a whole segment is one BPE word: this must stay fast and exact.
        string text = string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog; café 视觉 😀\n", 2000));
        HfTokenizer tokenizer = TokenizerJsonFixture.MistralVariant("as-shipped");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        IReadOnlyList<int> ids = tokenizer.Encode(text, addSpecialTokens: false);
        Assert.Equal(text, tokenizer.Decode(ids));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"encoding {text.Length} characters took {clock.Elapsed}");
    }
}
