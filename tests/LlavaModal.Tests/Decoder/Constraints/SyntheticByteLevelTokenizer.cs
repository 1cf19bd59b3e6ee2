using System.Text;
using System.Text.Json.Nodes;
using LlavaModal.Tokenizers;
using LlavaModal.Tokenizers.ByteLevel;

namespace LlavaModal.Tests.Decoder.Constraints;

/// <summary>
/// A Qwen2-style byte-level BPE tokenizer written by the test: the 256 byte tokens, then merges of random pairs of
/// existing tokens drawn from JSON-like text (so multi-byte tokens such as <c>{"</c>, <c>":</c>, <c>é</c> halves or
/// <c>}]</c> exist, as in real vocabularies), and one special end token.
/// </summary>
static class SyntheticByteLevelTokenizer
{
    public const string EndToken = "<|im_end|>";

    public static HfTokenizer Create(int merges, int seed)
    {
        var random = new Random(seed);
        var tokens = new List<string>();
        for (int b = 0; b < 256; b++) tokens.Add(ByteLevelAlphabet.CharOf((byte)b).ToString());
        var known = new HashSet<string>(tokens, StringComparer.Ordinal);
        var pairs = new List<string[]>();
        const string text = "{\"name\": \"Ann\", \"age\": 30, \"tags\": [\"a\", \"b\"], \"ok\": true, \"x\": null, \"v\": -1.5e3, \"é日\": \"\\n\\u00e9\"}\n  ";
        var bytes = Encoding.UTF8.GetBytes(text).Select(b => ByteLevelAlphabet.CharOf(b).ToString()).ToList();
        while (pairs.Count < merges)
        {
            // Split the text into current tokens greedily, then merge a random adjacent pair into a new token.
            int i = random.Next(bytes.Count - 1);
            string left = Longest(bytes, i, known), right = Longest(bytes, i + left.Length, known);
            if (right.Length == 0 || !known.Add(left + right)) { bytes.AddRange(bytes.Take(random.Next(1, 8))); continue; }
            tokens.Add(left + right);
            pairs.Add([left, right]);
        }
        var vocab = new JsonObject();
        for (int id = 0; id < tokens.Count; id++) vocab[tokens[id]] = id;
        var json = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(new JsonObject
            {
                ["id"] = tokens.Count, ["content"] = EndToken, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
            }),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = true },
            ["post_processor"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null, ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = false, ["vocab"] = vocab,
                ["merges"] = new JsonArray([.. pairs.Select(p => (JsonNode?)new JsonArray(p[0], p[1]))]),
            },
        };
        string dir = Directory.CreateTempSubdirectory("bbpe-json-").FullName;
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json.ToJsonString());
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), $$"""{"eos_token": "{{EndToken}}", "bos_token": null, "clean_up_tokenization_spaces": false, "tokenizer_class": "Qwen2Tokenizer"}""");
        try { return HfTokenizer.FromPretrained(dir); }
        finally { Directory.Delete(dir, true); }
    }

    static string Longest(List<string> chars, int start, HashSet<string> known)
    {
        string best = "";
        var current = new StringBuilder();
        for (int i = start; i < chars.Count && i < start + 12; i++)
        {
            current.Append(chars[i]);
            if (known.Contains(current.ToString())) best = current.ToString();
        }
        return best;
    }
}
