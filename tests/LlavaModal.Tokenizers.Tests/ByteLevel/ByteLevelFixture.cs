using System.Text.Json.Nodes;
using LlavaModal.Tokenizers.ByteLevel;

namespace LlavaModal.Tokenizers.Tests.ByteLevel;

/// <summary>
/// A tiny byte-level BPE <c>tokenizer.json</c> written by the tests, LLaMA-3 style by default.
/// </summary>
/// <remarks>
/// Vocabulary: ids 0..255 are the 256 byte characters, id = byte value (so 'h' = 104, 'e' = 101, 'l' = 108,
/// 'o' = 111, 't' = 116, '\n' = 10, and the space byte 0x20 is 'Ġ' = 32). Then, with merges in this rank order:
/// <code>
/// rank 0  "Ġ t"   -> "Ġt"    256
/// rank 1  "h e"   -> "he"    257
/// rank 2  "Ġt he" -> "Ġthe"  258
/// rank 3  "l l"   -> "ll"    259
/// rank 4  "e ll"  -> "ell"   260
/// rank 5  "h ell" -> "hell"  261
/// rank 6  "hell o"-> "hello" 262
/// rank 7  "Ã ©"   -> "Ã©"    263   ('é' is UTF-8 C3 A9, whose byte characters are 'Ã' and '©')
/// rank 8  "3 4"   -> "34"    264
/// </code>
/// Added tokens: 265 &lt;|begin_of_text|&gt;, 266 &lt;|eot_id|&gt;, 267 &lt;image&gt; (special), 268 &lt;tool&gt; (not special).
/// </remarks>
static class ByteLevelFixture
{
    public const string Llama3Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public const int Bos = 265, Eot = 266, Image = 267, Tool = 268;

    public static readonly string[] Merges = ["Ġ t", "h e", "Ġt he", "l l", "e ll", "h ell", "hell o", "Ã ©", "3 4"];

    /// <summary>The whole LLaMA-3 style file; tests edit the returned tree to make variants.</summary>
    public static JsonObject Llama3(bool ignoreMerges = false)
    {
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++)
        {
            vocab[ByteLevelAlphabet.CharOf((byte)b).ToString()] = b;
        }

        int next = 256;
        foreach (string merge in Merges)
        {
            vocab[merge.Replace(" ", string.Empty, StringComparison.Ordinal)] = next++;
        }

        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(
                Added(Bos, "<|begin_of_text|>", true),
                Added(Eot, "<|eot_id|>", true),
                Added(Image, "<image>", true),
                Added(Tool, "<tool>", false)),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject
                    {
                        ["type"] = "Split",
                        ["pattern"] = new JsonObject { ["Regex"] = Llama3Pattern },
                        ["behavior"] = "Isolated",
                        ["invert"] = false,
                    },
                    new JsonObject
                    {
                        ["type"] = "ByteLevel",
                        ["add_prefix_space"] = false,
                        ["trim_offsets"] = true,
                        ["use_regex"] = false,
                    }),
            },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["processors"] = new JsonArray(
                    new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = false, ["use_regex"] = true },
                    new JsonObject
                    {
                        ["type"] = "TemplateProcessing",
                        ["single"] = new JsonArray(
                            new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "<|begin_of_text|>", ["type_id"] = 0 } },
                            new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
                        ["pair"] = new JsonArray(),
                        ["special_tokens"] = new JsonObject
                        {
                            ["<|begin_of_text|>"] = new JsonObject
                            {
                                ["id"] = "<|begin_of_text|>",
                                ["ids"] = new JsonArray(Bos),
                                ["tokens"] = new JsonArray("<|begin_of_text|>"),
                            },
                        },
                    }),
            },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = null,
                ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false,
                ["byte_fallback"] = false,
                ["ignore_merges"] = ignoreMerges,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray(Merges.Select(m => (JsonNode?)JsonValue.Create(m)).ToArray()),
            },
        };
    }

    /// <summary>The LLaMA-3 file turned Qwen2 style: NFC normalizer, ByteLevel post-processor only (no BOS), merges as pairs.</summary>
    public static JsonObject Qwen2()
    {
        JsonObject json = Llama3();
        json["normalizer"] = new JsonObject { ["type"] = "NFC" };
        json["post_processor"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false };
        json["model"]!["merges"] = new JsonArray(Merges.Select(m => (JsonNode?)new JsonArray(m.Split(' ')[0], m.Split(' ')[1])).ToArray());
        foreach (JsonNode? token in json["added_tokens"]!.AsArray())
        {
            token!["normalized"] = false;
        }

        return json;
    }

    public static string LlamaConfig(bool cleanUp = false) =>
        $$"""
        {
          "bos_token": "<|begin_of_text|>",
          "eos_token": "<|eot_id|>",
          "clean_up_tokenization_spaces": {{(cleanUp ? "true" : "false")}},
          "tokenizer_class": "PreTrainedTokenizerFast"
        }
        """;

    public const string QwenConfig =
        """
        {
          "bos_token": null,
          "eos_token": "<|eot_id|>",
          "pad_token": "<|eot_id|>",
          "clean_up_tokenization_spaces": false,
          "tokenizer_class": "Qwen2Tokenizer"
        }
        """;

    /// <summary>Writes the files into a new temporary directory and returns it.</summary>
    public static string Write(JsonObject tokenizerJson, string? config)
    {
        string dir = Directory.CreateTempSubdirectory("bbpe-").FullName;
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), tokenizerJson.ToJsonString());
        if (config is not null)
        {
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), config);
        }

        return dir;
    }

    public static HfTokenizer Load(JsonObject tokenizerJson, string? config)
    {
        string dir = Write(tokenizerJson, config);
        try
        {
            return HfTokenizer.FromPretrained(dir);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    static JsonObject Added(int id, string content, bool special) => new()
    {
        ["id"] = id,
        ["content"] = content,
        ["single_word"] = false,
        ["lstrip"] = false,
        ["rstrip"] = false,
        ["normalized"] = false,
        ["special"] = special,
    };
}
