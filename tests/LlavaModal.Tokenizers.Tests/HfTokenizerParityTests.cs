using System.Text.Json;

namespace LlavaModal.Tokenizers.Tests;

/// <summary>Every case of <c>tokenizer-cases/cases.json</c> against the transformers 4.44.2 reference.</summary>
public class HfTokenizerParityTests
{
    public static IEnumerable<object[]> Cases() => TokenizerFixtures.CaseRows();

    static HfTokenizer Tokenizer => TokenizerFixtures.Cases.Value;

    [Theory]
    [MemberData(nameof(Cases))]
    public void EncodeWithSpecialTokens(int index, string label)
    {
        JsonElement c = TokenizerFixtures.Case(index);
        int[] expected = TokenizerFixtures.Ints(c.GetProperty("hf_ids_add_special_true"));
        Assert.True(expected.SequenceEqual(Tokenizer.Encode(c.GetProperty("text").GetString()!, true)),
            $"{label}: expected [{string.Join(", ", expected)}], got [{string.Join(", ", Tokenizer.Encode(c.GetProperty("text").GetString()!, true))}]");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EncodeWithoutSpecialTokens(int index, string label)
    {
        JsonElement c = TokenizerFixtures.Case(index);
        int[] expected = TokenizerFixtures.Ints(c.GetProperty("hf_ids_add_special_false"));
        IReadOnlyList<int> actual = Tokenizer.Encode(c.GetProperty("text").GetString()!, false);
        Assert.True(expected.SequenceEqual(actual), $"{label}: expected [{string.Join(", ", expected)}], got [{string.Join(", ", actual)}]");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void DecodeWithSpecialTokens(int index, string label)
    {
        JsonElement c = TokenizerFixtures.Case(index);
        int[] ids = TokenizerFixtures.Ints(c.GetProperty("hf_ids_add_special_true"));
        _ = label; // only names the case in the test output
        Assert.Equal(c.GetProperty("hf_decode_add_special_true").GetString(), Tokenizer.Decode(ids));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void DecodeSkippingSpecialTokens(int index, string label)
    {
        JsonElement c = TokenizerFixtures.Case(index);
        int[] ids = TokenizerFixtures.Ints(c.GetProperty("hf_ids_add_special_true"));
        _ = label; // only names the case in the test output
        Assert.Equal(c.GetProperty("hf_decode_add_special_true_skip_special").GetString(), Tokenizer.Decode(ids, skipSpecialTokens: true));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void DecodeWithoutAddedSpecialTokens(int index, string label)
    {
        JsonElement c = TokenizerFixtures.Case(index);
        int[] ids = TokenizerFixtures.Ints(c.GetProperty("hf_ids_add_special_false"));
        _ = label; // only names the case in the test output
        Assert.Equal(c.GetProperty("hf_decode_add_special_false").GetString(), Tokenizer.Decode(ids));
    }

    [Fact]
    public void VocabularyFactsMatchTheReference()
    {
        HfTokenizer t = Tokenizer;
        Assert.Equal(512, t.VocabSize);
        Assert.Equal(1, t.BosTokenId);
        Assert.Equal(2, t.EosTokenId);
        Assert.Equal(0, t.UnkTokenId);
        Assert.Equal(511, t.PadTokenId);
        Assert.Equal(510, t.TokenToId("<image>"));
        Assert.Equal(371, t.TokenToId("\u2581"));
        Assert.Null(t.TokenToId("not-a-token"));
        Assert.Equal("<pad>", t.IdToToken(511));
        Assert.Equal("<0x0A>", t.IdToToken(13));
        Assert.Throws<ArgumentOutOfRangeException>(() => t.IdToToken(512));
        Assert.True(t.IsSpecial(510));
        Assert.True(t.IsSpecial(1));
        Assert.False(t.IsSpecial(371));
        Assert.Equal(510, t.AddedTokens["<image>"]);
    }

    [Fact]
    public void LegacyFalseDiffersFromLegacyTrueAfterAnAddedToken()
    {
        // Guards the one rule the library gets wrong by default: no dummy prefix after <image>.
        JsonElement c = TokenizerFixtures.Case(Enumerable.Range(0, TokenizerFixtures.CaseCount)
            .First(i => TokenizerFixtures.Case(i).GetProperty("text").GetString() == "<image>\n"));
        int[] legacy = TokenizerFixtures.Ints(c.GetProperty("hf_legacy_true_ids_add_special_true"));
        Assert.NotEqual(legacy, Tokenizer.Encode("<image>\n"));
        Assert.Equal([1, 510, 13], Tokenizer.Encode("<image>\n"));
    }

    [Fact]
    public void ConcurrentUseGivesTheSameResults()
    {
        HfTokenizer t = Tokenizer;
        string[] texts = Enumerable.Range(0, TokenizerFixtures.CaseCount)
            .Select(i => TokenizerFixtures.Case(i).GetProperty("text").GetString()!).ToArray();
        var expected = texts.Select(s => (Ids: t.Encode(s).ToArray(), Text: t.Decode(t.Encode(s)))).ToArray();
        Parallel.For(0, 400, new ParallelOptions { MaxDegreeOfParallelism = 4 }, k =>
        {
            int i = k % texts.Length;
            int[] ids = t.Encode(texts[i]).ToArray();
            Assert.Equal(expected[i].Ids, ids);
            Assert.Equal(expected[i].Text, t.Decode(ids));
        });
    }
}
