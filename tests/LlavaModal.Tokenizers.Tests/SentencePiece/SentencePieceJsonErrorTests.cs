using System.Text.Json.Nodes;

namespace LlavaModal.Tokenizers.Tests.SentencePiece;

/// <summary>What the SentencePiece-style tokenizer.json path does not reproduce is refused with the file, key and value named.</summary>
public sealed class SentencePieceJsonErrorTests
{
    const string LlamaConfig = """{ "tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>" }""";

    static void AssertRefused<TException>(Action<JsonObject> edit, string? config, params string[] expected)
        where TException : Exception
    {
        JsonObject json = TokenizerJsonFixture.ConvertedJson();
        edit(json);
        string dir = TokenizerJsonFixture.WriteFolder(json, config);
        try
        {
            var e = Assert.Throws<TException>(() => HfTokenizer.FromPretrained(dir));
            Assert.Contains(Path.Combine(dir, expected[0]), e.Message);
            foreach (string part in expected.Skip(1))
            {
                Assert.Contains(part, e.Message);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    static void Unsupported(Action<JsonObject> edit, params string[] expected) =>
        AssertRefused<NotSupportedException>(edit, LlamaConfig, ["tokenizer.json", .. expected]);

    [Fact]
    public void UnigramModel() =>
        Unsupported(j => j["model"]!["type"] = "Unigram", "model.type", "'Unigram'");

    [Fact]
    public void OtherNormalizer() =>
        Unsupported(j => j["normalizer"] = new JsonObject { ["type"] = "NFKC" }, "normalizer.type", "'NFKC'");

    [Fact]
    public void PrependOfSomethingElse() =>
        Unsupported(j => j["normalizer"] = new JsonObject { ["type"] = "Prepend", ["prepend"] = "_" }, "normalizer.type", "'Prepend'");

    [Fact]
    public void WhitespacePreTokenizer() =>
        Unsupported(j => j["pre_tokenizer"] = new JsonObject { ["type"] = "Whitespace" }, "pre_tokenizer.type", "'Whitespace'");

    [Fact]
    public void MetaspaceWithAnotherReplacement() =>
        Unsupported(j => j["pre_tokenizer"]!["replacement"] = "_", "pre_tokenizer.replacement", "'_'");

    [Fact]
    public void UnknownPrependScheme() =>
        Unsupported(j => j["pre_tokenizer"]!["prepend_scheme"] = "sometimes", "pre_tokenizer.prepend_scheme", "'sometimes'");

    [Fact]
    public void StripBeforeFuse() =>
        Unsupported(j => j["decoder"]!["decoders"]!.AsArray().RemoveAt(2), "decoder.decoders[2].type", "'Strip'");

    [Fact]
    public void StripAtTheEnd() =>
        Unsupported(j => j["decoder"]!["decoders"]![3]!["stop"] = 1, "decoder.decoders[3]", "\"stop\":1");

    [Fact]
    public void WordPieceDecoder() =>
        Unsupported(j => j["decoder"] = new JsonObject { ["type"] = "WordPiece" }, "decoder.type", "'WordPiece'");

    [Fact]
    public void MissingDecoder() =>
        Unsupported(j => j.Remove("decoder"), "decoder", "(missing)");

    [Fact]
    public void StripFlagsOnAddedTokens() =>
        Unsupported(j => j["added_tokens"]![3]!["lstrip"] = true, "added_tokens[3].lstrip", "<image>");

    [Fact]
    public void NormalizedAddedTokenWithANormalizer() =>
        Unsupported(j =>
        {
            j["normalizer"] = new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁" };
            j["added_tokens"]![3]!["normalized"] = true;
        }, "added_tokens[3].normalized", "<image>");

    [Fact]
    public void NeitherUnknownTokenNorByteFallback() =>
        Unsupported(j =>
        {
            j["model"]!["unk_token"] = null;
            j["model"]!["byte_fallback"] = false;
        }, "model.unk_token", "null");

    [Fact]
    public void SomeByteTokensMissing() =>
        Unsupported(j => j["model"]!["vocab"]!.AsObject().Remove("<0x41>"), "model.vocab", "byte tokens");

    [Fact]
    public void AddPrefixSpaceContradictingTheFile() =>
        AssertRefused<NotSupportedException>(j => j["pre_tokenizer"]!["prepend_scheme"] = "never",
            """{ "tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "add_prefix_space": true }""",
            "tokenizer_config.json", "add_prefix_space=true", "tokenizer.model");

    [Fact]
    public void CleanUpTokenizationSpaces() =>
        AssertRefused<NotSupportedException>(_ => { }, """{ "bos_token": "<s>", "clean_up_tokenization_spaces": true }""",
            "tokenizer_config.json", "clean_up_tokenization_spaces=true");

    [Fact]
    public void ConfigContradictingTheTemplateOfAnotherClass() =>
        AssertRefused<NotSupportedException>(_ => { }, """{ "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "add_bos_token": false }""",
            "tokenizer_config.json", "add_bos_token=false", "post_processor");

    [Fact]
    public void MergeOutsideTheVocabulary() =>
        AssertRefused<InvalidDataException>(j => j["model"]!["merges"]!.AsArray().Add("x y"), LlamaConfig, "tokenizer.json", "model.merges[");

    [Fact]
    public void UnknownTokenOutsideTheVocabulary() =>
        AssertRefused<InvalidDataException>(j => j["model"]!["unk_token"] = "<missing>", LlamaConfig, "tokenizer.json", "model.unk_token", "<missing>");

    [Fact]
    public void LlamaClassRebuildsTheTemplateFromAddBosAndAddEos()
    {
        // transformers' LlamaTokenizerFast rewrites the post-processor from these settings, whatever the file says.
        JsonObject json = TokenizerJsonFixture.ConvertedJson();
        string dir = TokenizerJsonFixture.WriteFolder(json,
            """{ "tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "add_bos_token": false, "add_eos_token": true }""");
        try
        {
            IReadOnlyList<int> ids = HfTokenizer.FromPretrained(dir).Encode("Hello");
            Assert.Equal(2, ids[^1]);
            Assert.NotEqual(1, ids[0]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
