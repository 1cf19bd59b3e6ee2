using System.Text.Json.Nodes;

namespace LlavaModal.Tokenizers.Tests.ByteLevel;

/// <summary>What a byte-level tokenizer.json path does not reproduce is refused with the file, key and value named.</summary>
public sealed class ByteLevelTokenizerErrorTests
{
    static void AssertRefused<TException>(Action<JsonObject> edit, string? config, params string[] expected)
        where TException : Exception
    {
        JsonObject json = ByteLevelFixture.Llama3();
        edit(json);
        string dir = ByteLevelFixture.Write(json, config);
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
        AssertRefused<NotSupportedException>(edit, ByteLevelFixture.LlamaConfig(), ["tokenizer.json", .. expected]);

    [Fact]
    public void UnigramModel() =>
        Unsupported(j => j["model"]!["type"] = "Unigram", "model.type", "'Unigram'");

    [Fact]
    public void WordPieceModel() =>
        Unsupported(j => j["model"]!["type"] = "WordPiece", "model.type", "'WordPiece'");

    [Fact]
    public void OtherNormalizer() =>
        Unsupported(j => j["normalizer"] = new JsonObject { ["type"] = "Lowercase" }, "normalizer.type", "'Lowercase'");

    [Fact]
    public void MetaspacePreTokenizer() =>
        Unsupported(j => j["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁" }, "pre_tokenizer.type", "'Metaspace'");

    [Fact]
    public void DigitsInTheSequence() =>
        Unsupported(
            j => j["pre_tokenizer"]!["pretokenizers"]!.AsArray().Insert(0, new JsonObject { ["type"] = "Digits", ["individual_digits"] = true }),
            "pre_tokenizer.pretokenizers[0].type", "'Digits'");

    [Fact]
    public void SplitBehaviourOtherThanIsolated() =>
        Unsupported(j => j["pre_tokenizer"]!["pretokenizers"]![0]!["behavior"] = "Removed", "pre_tokenizer.pretokenizers[0].behavior", "'Removed'");

    [Fact]
    public void ByteLevelPrefixSpace() =>
        Unsupported(j => j["pre_tokenizer"]!["pretokenizers"]![1]!["add_prefix_space"] = true, "pretokenizers[1].add_prefix_space");

    [Fact]
    public void NonByteLevelDecoder() =>
        Unsupported(j => j["decoder"] = new JsonObject { ["type"] = "WordPiece" }, "decoder.type", "'WordPiece'");

    [Fact]
    public void MissingDecoder() =>
        Unsupported(j => j.Remove("decoder"), "decoder");

    [Fact]
    public void BertPostProcessor() =>
        Unsupported(j => j["post_processor"] = new JsonObject { ["type"] = "BertProcessing" }, "post_processor.type", "'BertProcessing'");

    [Fact]
    public void ByteFallback() =>
        Unsupported(j => j["model"]!["byte_fallback"] = true, "model.byte_fallback");

    [Fact]
    public void StripFlagsOnAddedTokens() =>
        Unsupported(j => j["added_tokens"]![1]!["lstrip"] = true, "added_tokens[1].lstrip", "<|eot_id|>");

    [Fact]
    public void IncompleteByteAlphabet() =>
        Unsupported(j => j["model"]!["vocab"]!.AsObject().Remove("Ġ"), "model.vocab", "0x20");

    [Fact]
    public void ConfigContradictingTheTemplate() =>
        AssertRefused<NotSupportedException>(_ => { }, """{ "bos_token": "<|begin_of_text|>", "add_bos_token": false }""",
            "tokenizer_config.json", "add_bos_token=false", "post_processor");

    [Fact]
    public void MergeOutsideTheVocabulary() =>
        AssertRefused<InvalidDataException>(j => j["model"]!["merges"]!.AsArray().Add("x y"), ByteLevelFixture.LlamaConfig(),
            "tokenizer.json", "model.merges[9]");

    [Fact]
    public void SpecialTokenNamedInConfigButUnknown() =>
        AssertRefused<InvalidDataException>(_ => { }, """{ "eos_token": "<|end|>" }""", "tokenizer_config.json", "eos_token", "<|end|>");
}
