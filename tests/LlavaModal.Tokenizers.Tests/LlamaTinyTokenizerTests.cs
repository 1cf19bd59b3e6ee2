using System.Text.Json;

namespace LlavaModal.Tokenizers.Tests;

/// <summary>The llama-tiny tokenizer (no added tokens) and the generated ids of the model fixtures.</summary>
public class LlamaTinyTokenizerTests
{
    static JsonElement Index(string fixture) =>
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TokenizerFixtures.Dir(fixture), "expected", "index.json"))).RootElement;

    [Theory]
    [InlineData("q0")]
    [InlineData("q1")]
    [InlineData("q2")]
    public void PromptIdsMatchTheModelFixture(string prompt)
    {
        string text = Index("llama-tiny").GetProperty("prompts").GetProperty(prompt).GetString()!;
        long[] expected = ReadIds(
            Path.Combine(TokenizerFixtures.Dir("llama-tiny"), "expected", "expected.safetensors"), $"{prompt}.input_ids");
        Assert.Equal(expected.Select(v => (int)v), TokenizerFixtures.LlamaTiny.Value.Encode(text));
    }

    [Fact]
    public void ImageTagIsPlainTextWithoutAddedTokens()
    {
        HfTokenizer t = TokenizerFixtures.LlamaTiny.Value;
        Assert.Equal(510, t.VocabSize);
        Assert.Null(t.PadTokenId);
        Assert.Null(t.TokenToId("<image>"));

        // Same ids as plain SentencePiece on the text (cases.json), plus BOS.
        Assert.Equal([1, 371, 464, 378, 317, 297, 448, 13], t.Encode("<image>\n"));
        Assert.Equal("<image>\n", t.Decode(t.Encode("<image>\n"), skipSpecialTokens: true));
    }

    [Theory]
    [InlineData("q0")]
    [InlineData("q1")]
    [InlineData("q2")]
    public void GeneratedIdsDecodeLikeTheReference(string prompt)
    {
        JsonElement c = Index("llama-tiny").GetProperty("cases").GetProperty(prompt);
        int[] ids = TokenizerFixtures.Ints(c.GetProperty("new_token_ids"));
        Assert.Equal(c.GetProperty("decoded_new").GetString(), TokenizerFixtures.LlamaTiny.Value.Decode(ids));
    }

    public static IEnumerable<object[]> LlavaCases() =>
        Index("llava-tiny-a").GetProperty("cases").GetProperty("single").EnumerateObject().Select(p => new object[] { p.Name });

    [Theory]
    [MemberData(nameof(LlavaCases))]
    public void LlavaGeneratedIdsDecodeLikeTheReference(string name)
    {
        // Random-weight output: invalid byte sequences (U+FFFD per byte) and a mid-sequence <s> in p3.text.
        JsonElement c = Index("llava-tiny-a").GetProperty("cases").GetProperty("single").GetProperty(name);
        int[] ids = TokenizerFixtures.Ints(c.GetProperty("new_token_ids"));
        HfTokenizer t = TokenizerFixtures.LlavaTiny.Value;
        Assert.Equal(c.GetProperty("decoded_new").GetString(), t.Decode(ids));
        Assert.Equal(c.GetProperty("decoded_new_skip_special").GetString(), t.Decode(ids, skipSpecialTokens: true));
    }

    [Theory]
    [InlineData("p1")]
    [InlineData("p2")]
    [InlineData("p3")]
    public void LlavaPromptIdsMatchTheModelFixture(string prompt)
    {
        string text = Index("llava-tiny-a").GetProperty("prompts").GetProperty(prompt).GetString()!;
        long[] expected = ReadIds(
            Path.Combine(TokenizerFixtures.Dir("llava-tiny-a"), "expected", "prompts.safetensors"), $"{prompt}.input_ids");
        Assert.Equal(expected.Select(v => (int)v), TokenizerFixtures.LlavaTiny.Value.Encode(text));
    }

    static long[] ReadIds(string path, string name) => Support.SafeTensorsIds.Read(path, name);
}
