namespace LlavaModal.Tokenizers.Tests;

public sealed class HfTokenizerErrorTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("hftok-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    void CopyFixture(params string[] files)
    {
        foreach (string f in files)
        {
            File.Copy(Path.Combine(TokenizerFixtures.Dir("tokenizer-cases"), f), Path.Combine(_dir, f));
        }
    }

    [Fact]
    public void MissingDirectory()
    {
        string missing = Path.Combine(_dir, "nope");
        var e = Assert.Throws<DirectoryNotFoundException>(() => HfTokenizer.FromPretrained(missing));
        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public void MissingTokenizerFiles()
    {
        CopyFixture("tokenizer_config.json");
        var e = Assert.Throws<FileNotFoundException>(() => HfTokenizer.FromPretrained(_dir));
        Assert.Contains("tokenizer.model", e.Message);
        Assert.Equal(Path.Combine(_dir, "tokenizer.model"), e.FileName);
    }

    [Fact]
    public void TokenizerJsonWithoutModelNamesTheKey()
    {
        // tokenizer.json alone is read as byte-level BPE now; an empty one is malformed, not silently accepted.
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), "{}");
        var e = Assert.Throws<InvalidDataException>(() => HfTokenizer.FromPretrained(_dir));
        Assert.Contains("tokenizer.json", e.Message);
        Assert.Contains("'model'", e.Message);
    }

    [Fact]
    public void MalformedConfigJson()
    {
        CopyFixture("tokenizer.model");
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), "{ \"add_bos_token\": tru");
        var e = Assert.Throws<InvalidDataException>(() => HfTokenizer.FromPretrained(_dir));
        Assert.Contains("tokenizer_config.json", e.Message);
    }

    [Theory]
    [InlineData("{ \"add_bos_token\": \"yes\" }", "add_bos_token")]
    [InlineData("{ \"bos_token\": 5 }", "bos_token")]
    [InlineData("{ \"added_tokens_decoder\": { \"x\": { \"content\": \"<a>\" } } }", "added_tokens_decoder.x")]
    [InlineData("{ \"added_tokens_decoder\": { \"600\": { \"lstrip\": true } } }", "added_tokens_decoder.600")]
    [InlineData("{ \"pad_token\": \"<nowhere>\" }", "pad_token")]
    public void BadConfigValuesNameTheKey(string json, string key)
    {
        CopyFixture("tokenizer.model");
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), json);
        var e = Assert.Throws<InvalidDataException>(() => HfTokenizer.FromPretrained(_dir));
        Assert.Contains("tokenizer_config.json", e.Message);
        Assert.Contains($"'{key}'", e.Message);
    }

    [Fact]
    public void CorruptSentencePieceModel()
    {
        File.WriteAllBytes(Path.Combine(_dir, "tokenizer.model"), [1, 2, 3, 4, 5]);
        var e = Assert.Throws<InvalidDataException>(() => HfTokenizer.FromPretrained(_dir));
        Assert.Contains("tokenizer.model", e.Message);
    }

    [Fact]
    public void MissingLegacyKeyFollowsTheHfDefault()
    {
        // transformers 4.44 treats a missing "legacy" as true: a dummy prefix after every added token.
        CopyFixture("tokenizer.model", "special_tokens_map.json", "added_tokens.json");
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), "{ \"add_bos_token\": true }");
        HfTokenizer t = HfTokenizer.FromPretrained(_dir);
        Assert.Equal([1, 510, 371, 13], t.Encode("<image>\n"));
    }
}
