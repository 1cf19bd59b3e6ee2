using System.Text.Json;

namespace LlavaModal.Tokenizers.Tests.SentencePiece;

/// <summary>
/// The repository's own <c>tokenizer.model</c> (tokenizer-cases) converted to <c>tokenizer.json</c> as transformers'
/// LlamaConverter does for legacy=false (Metaspace, prepend_scheme first): the tokenizer.json path gives the
/// reference's ids, and the same ids as the <c>tokenizer.model</c> path wherever the reference's fast and slow
/// tokenizers agree (all but the texts that start with a space).
/// </summary>
public sealed class ConvertedTokenizerJsonTests
{
    public static IEnumerable<object[]> Rows() =>
        Enumerable.Range(0, TokenizerJsonFixture.ConvertedCases.Value.RootElement.GetProperty("cases").GetArrayLength()).Select(i => new object[] { i });

    static JsonElement Case(int i) => TokenizerJsonFixture.ConvertedCases.Value.RootElement.GetProperty("cases")[i];

    [Theory]
    [MemberData(nameof(Rows))]
    public void MatchesTheReference(int index)
    {
        JsonElement c = Case(index);
        HfTokenizer tokenizer = TokenizerJsonFixture.ConvertedTokenizer.Value;
        string text = c.GetProperty("text").GetString()!;
        int[] ids = TokenizerFixtures.Ints(c.GetProperty("ids"));
        Assert.Equal(ids, tokenizer.Encode(text));
        Assert.Equal(TokenizerFixtures.Ints(c.GetProperty("ids_no_special")), tokenizer.Encode(text, addSpecialTokens: false));
        Assert.Equal(c.GetProperty("decoded").GetString(), tokenizer.Decode(ids));
        Assert.Equal(c.GetProperty("decoded_skip_special").GetString(), tokenizer.Decode(ids, skipSpecialTokens: true));
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void SameIdsAsTheSentencePiecePathWhereTheReferenceAgrees(int index)
    {
        JsonElement c = Case(index);
        string text = c.GetProperty("text").GetString()!;
        int[] fast = TokenizerFixtures.Ints(c.GetProperty("ids"));
        int[] slow = TokenizerFixtures.Ints(c.GetProperty("slow_ids"));
        IReadOnlyList<int> sentencePiece = TokenizerFixtures.Cases.Value.Encode(text);
        IReadOnlyList<int> json = TokenizerJsonFixture.ConvertedTokenizer.Value.Encode(text);
        Assert.Equal(slow, sentencePiece);
        Assert.Equal(fast, json);
        if (fast.SequenceEqual(slow))
        {
            Assert.Equal(sentencePiece, json);
        }
        else
        {
            // transformers' own fast and slow LLaMA tokenizers differ here: Metaspace adds no '▁' before a leading space.
            Assert.StartsWith(" ", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void FiveLeadingSpaceTextsAreTheOnlyDisagreements()
    {
        int differing = Enumerable.Range(0, Rows().Count())
            .Count(i => !TokenizerFixtures.Ints(Case(i).GetProperty("ids")).SequenceEqual(TokenizerFixtures.Ints(Case(i).GetProperty("slow_ids"))));
        Assert.Equal(5, differing);
    }

    [Fact]
    public void AFolderWithBothFilesKeepsTheSentencePiecePath()
    {
        string dir = Path.Combine(Path.GetTempPath(), "llavamodal-both-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            foreach (string file in Directory.GetFiles(TokenizerJsonFixture.Converted).Where(f => !f.EndsWith("cases.json", StringComparison.Ordinal)))
            {
                File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
            }

            File.Copy(Path.Combine(TokenizerFixtures.Dir("tokenizer-cases"), "tokenizer.model"), Path.Combine(dir, "tokenizer.model"));
            Assert.Equal(TokenizerFixtures.Cases.Value.Encode("  Hello  world  "), HfTokenizer.FromPretrained(dir).Encode("  Hello  world  "));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
