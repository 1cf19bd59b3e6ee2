using System.Text.Json;
using System.Text.RegularExpressions;

namespace LlavaModal.Tokenizers.ByteLevel;

/// <summary>
/// The parts of a Hugging Face <c>tokenizer.json</c> that byte-level BPE (LLaMA-3, Qwen2, GPT-2 style) needs, read
/// and checked. Anything the byte-level path does not reproduce exactly throws <see cref="NotSupportedException"/>
/// naming the file, the key and the value; malformed values throw <see cref="InvalidDataException"/>.
/// </summary>
sealed class TokenizerJson
{
    /// <summary>The GPT-2 pattern HF's <c>ByteLevel</c> pre-tokenizer applies when <c>use_regex</c> is true.</summary>
    internal const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    readonly string path;

    TokenizerJson(string path) => this.path = path;

    public Dictionary<string, int> Vocabulary { get; } = new(StringComparer.Ordinal);

    /// <summary>Merges as "left right", highest priority first.</summary>
    public List<string> Merges { get; } = [];

    public bool IgnoreMerges { get; private set; }

    /// <summary>Unicode NFC before BPE (Qwen2), or no normalization.</summary>
    public bool NormalizeNfc { get; private set; }

    /// <summary>Split patterns applied in turn (HF <c>Split</c> with Isolated behaviour, or ByteLevel's own regex).</summary>
    public List<Regex> SplitPatterns { get; } = [];

    /// <summary>Added tokens with their <c>special</c> flag.</summary>
    public List<(AddedToken Token, bool Special)> AddedTokens { get; } = [];

    /// <summary>Token ids the post-processor puts before / after a single sequence.</summary>
    public List<int> PrefixIds { get; } = [];

    public List<int> SuffixIds { get; } = [];

    public static TokenizerJson Load(string path)
    {
        var json = new TokenizerJson(path);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(TokenizerInput.ReadJson(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not valid JSON: {e.Message}", e);
        }

        using (doc)
        {
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw TokenizerFiles.Invalid(path, "(root)", "must be a JSON object");
            }

            json.ReadModel(Required(root, "model", path));
            json.ReadAddedTokens(root);
            json.ReadNormalizer(root);
            json.ReadPreTokenizer(root);
            json.ReadDecoder(root);
            json.ReadPostProcessor(root);
        }

        return json;
    }

    NotSupportedException Unsupported(string key, string value, string? hint = null) =>
        new($"'{path}': {key} = {value} is not supported; this file is read as byte-level BPE (model.type BPE with a ByteLevel " +
            "pre-tokenizer and decoder, optionally after a Split regex, as LLaMA-3 and Qwen2 ship) because it has a ByteLevel step; " +
            $"the other supported form, SentencePiece-style BPE (LLaMA-2, Mistral), has none.{(hint is null ? string.Empty : " " + hint)}");

    internal static JsonElement Required(JsonElement obj, string name, string path, string? parent = null)
    {
        string key = parent is null ? name : $"{parent}.{name}";
        if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
        {
            throw TokenizerFiles.Invalid(path, key, "is missing");
        }

        return value;
    }

    internal static string? OptionalString(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    internal static bool OptionalBool(JsonElement obj, string name, bool fallback) =>
        obj.TryGetProperty(name, out JsonElement v) ? v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => fallback,
        } : fallback;

    internal static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => $"'{value.GetString()}'",
        JsonValueKind.Null => "null",
        _ => value.GetRawText().Length > 80 ? value.GetRawText()[..80] + "…" : value.GetRawText(),
    };

    string TypeOf(JsonElement obj, string key) =>
        OptionalString(obj, "type") ?? throw TokenizerFiles.Invalid(path, $"{key}.type", "is missing");

    void ReadModel(JsonElement model)
    {
        string type = OptionalString(model, "type") ?? (model.TryGetProperty("merges", out _) ? "BPE" : "(missing)");
        if (type != "BPE")
        {
            throw Unsupported("model.type", $"'{type}'");
        }

        if (model.TryGetProperty("dropout", out JsonElement dropout) && dropout.ValueKind != JsonValueKind.Null)
        {
            throw Unsupported("model.dropout", Describe(dropout));
        }

        foreach (string key in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
        {
            if (model.TryGetProperty(key, out JsonElement v) && v.ValueKind != JsonValueKind.Null
                && !(v.ValueKind == JsonValueKind.String && v.GetString()!.Length == 0))
            {
                throw Unsupported($"model.{key}", Describe(v));
            }
        }

        if (OptionalBool(model, "byte_fallback", false))
        {
            throw Unsupported("model.byte_fallback", "true");
        }

        IgnoreMerges = OptionalBool(model, "ignore_merges", false);

        JsonElement vocab = Required(model, "vocab", path, "model");
        if (vocab.ValueKind != JsonValueKind.Object)
        {
            throw TokenizerFiles.Invalid(path, "model.vocab", "must be an object mapping tokens to ids");
        }

        foreach (JsonProperty entry in vocab.EnumerateObject())
        {
            if (!entry.Value.TryGetInt32(out int id) || id < 0)
            {
                throw TokenizerFiles.Invalid(path, $"model.vocab.{entry.Name}", "the id must be a non-negative integer");
            }

            Vocabulary[entry.Name] = id;
        }

        // Without the full byte alphabet a character could be dropped silently by the BPE model.
        for (int b = 0; b < 256; b++)
        {
            if (!Vocabulary.ContainsKey(ByteLevelAlphabet.CharOf((byte)b).ToString()))
            {
                throw Unsupported("model.vocab", $"(no token for byte 0x{b:X2}, '{ByteLevelAlphabet.CharOf((byte)b)}')",
                    "A byte-level vocabulary must contain all 256 byte characters.");
            }
        }

        JsonElement merges = Required(model, "merges", path, "model");
        if (merges.ValueKind != JsonValueKind.Array)
        {
            throw TokenizerFiles.Invalid(path, "model.merges", "must be an array");
        }

        int i = 0;
        foreach (JsonElement merge in merges.EnumerateArray())
        {
            string key = $"model.merges[{i++}]";
            string left, right;
            if (merge.ValueKind == JsonValueKind.String)
            {
                string[] parts = merge.GetString()!.Split(' ');
                if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                {
                    throw TokenizerFiles.Invalid(path, key, "must be two tokens separated by one space");
                }

                (left, right) = (parts[0], parts[1]);
            }
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
                && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
            {
                (left, right) = (merge[0].GetString()!, merge[1].GetString()!);
                if (left.Contains(' ') || right.Contains(' '))
                {
                    throw Unsupported(key, Describe(merge), "Merge tokens containing a space are not supported.");
                }
            }
            else
            {
                throw TokenizerFiles.Invalid(path, key, "must be a string \"a b\" or a pair [\"a\", \"b\"]");
            }

            if (!Vocabulary.ContainsKey(left) || !Vocabulary.ContainsKey(right) || !Vocabulary.ContainsKey(left + right))
            {
                throw TokenizerFiles.Invalid(path, key, $"merges '{left}' and '{right}', but the vocabulary lacks one of them or their merge");
            }

            Merges.Add($"{left} {right}");
        }
    }

    void ReadAddedTokens(JsonElement root)
    {
        if (!root.TryGetProperty("added_tokens", out JsonElement added) || added.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        if (added.ValueKind != JsonValueKind.Array)
        {
            throw TokenizerFiles.Invalid(path, "added_tokens", "must be an array");
        }

        int i = 0;
        foreach (JsonElement token in added.EnumerateArray())
        {
            string key = $"added_tokens[{i++}]";
            if (token.ValueKind != JsonValueKind.Object || !token.TryGetProperty("id", out JsonElement idValue)
                || !idValue.TryGetInt32(out int id) || id < 0)
            {
                throw TokenizerFiles.Invalid(path, $"{key}.id", "must be a non-negative integer");
            }

            string content = OptionalString(token, "content") is { Length: > 0 } c
                ? c
                : throw TokenizerFiles.Invalid(path, $"{key}.content", "must be a non-empty string");
            foreach (string flag in new[] { "lstrip", "rstrip", "single_word" })
            {
                if (OptionalBool(token, flag, false))
                {
                    throw Unsupported($"{key}.{flag}", $"true (token '{content}')");
                }
            }

            bool special = OptionalBool(token, "special", false);
            bool normalized = OptionalBool(token, "normalized", !special);
            AddedTokens.Add((new AddedToken(content, id, false, false, false), special));
            if (normalized && root.TryGetProperty("normalizer", out JsonElement n) && n.ValueKind != JsonValueKind.Null)
            {
                // HF would match this token in the normalized text; this path matches added tokens in the raw text only.
                throw Unsupported($"{key}.normalized", $"true (token '{content}') together with a normalizer");
            }
        }
    }

    void ReadNormalizer(JsonElement root)
    {
        if (!root.TryGetProperty("normalizer", out JsonElement normalizer) || normalizer.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        string type = TypeOf(normalizer, "normalizer");
        if (type == "NFC")
        {
            NormalizeNfc = true;
            return;
        }

        if (type == "Sequence" && normalizer.TryGetProperty("normalizers", out JsonElement list)
            && list.ValueKind == JsonValueKind.Array && list.GetArrayLength() == 0)
        {
            return;
        }

        throw Unsupported("normalizer.type", $"'{type}'", "Supported: none or NFC.");
    }

    void ReadPreTokenizer(JsonElement root)
    {
        JsonElement pre = Required(root, "pre_tokenizer", path);
        string type = TypeOf(pre, "pre_tokenizer");
        List<(JsonElement Element, string Key)> steps = [];
        if (type == "Sequence")
        {
            JsonElement list = Required(pre, "pretokenizers", path, "pre_tokenizer");
            int i = 0;
            foreach (JsonElement step in list.EnumerateArray())
            {
                steps.Add((step, $"pre_tokenizer.pretokenizers[{i++}]"));
            }
        }
        else
        {
            steps.Add((pre, "pre_tokenizer"));
        }

        // Split steps first, then exactly one ByteLevel last (which only maps bytes, unless use_regex).
        for (int i = 0; i < steps.Count; i++)
        {
            (JsonElement step, string key) = steps[i];
            string stepType = TypeOf(step, key);
            if (stepType == "Split" && i < steps.Count - 1)
            {
                SplitPatterns.Add(ReadSplit(step, key));
            }
            else if (stepType == "ByteLevel" && i == steps.Count - 1)
            {
                if (OptionalBool(step, "add_prefix_space", true))
                {
                    throw Unsupported($"{key}.add_prefix_space", "true (or missing)");
                }

                if (OptionalBool(step, "use_regex", true))
                {
                    SplitPatterns.Add(Compile(Gpt2Pattern, $"{key}.use_regex"));
                }
            }
            else
            {
                throw Unsupported($"{key}.type", $"'{stepType}'",
                    "Supported: ByteLevel, or a Sequence of Split (Isolated) steps followed by ByteLevel.");
            }
        }
    }

    Regex ReadSplit(JsonElement split, string key)
    {
        string behavior = OptionalString(split, "behavior") ?? "(missing)";
        if (behavior != "Isolated")
        {
            throw Unsupported($"{key}.behavior", $"'{behavior}'", "Only Isolated is supported.");
        }

        if (OptionalBool(split, "invert", false))
        {
            throw Unsupported($"{key}.invert", "true");
        }

        JsonElement pattern = Required(split, "pattern", path, key);
        if (OptionalString(pattern, "Regex") is string regex)
        {
            return Compile(regex, $"{key}.pattern.Regex");
        }

        if (OptionalString(pattern, "String") is string literal)
        {
            return Compile(Regex.Escape(literal), $"{key}.pattern.String");
        }

        throw TokenizerFiles.Invalid(path, $"{key}.pattern", "must be {\"Regex\": ...} or {\"String\": ...}");
    }

    Regex Compile(string pattern, string key)
    {
        try
        {
            return new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled);
        }
        catch (ArgumentException e)
        {
            throw Unsupported(key, $"'{pattern}'", $".NET cannot compile this regex: {e.Message}");
        }
    }

    void ReadDecoder(JsonElement root)
    {
        JsonElement decoder = root.TryGetProperty("decoder", out JsonElement d) ? d : default;
        if (decoder.ValueKind != JsonValueKind.Object)
        {
            throw Unsupported("decoder", decoder.ValueKind == JsonValueKind.Undefined ? "(missing)" : Describe(decoder), "The decoder must be ByteLevel.");
        }

        string type = TypeOf(decoder, "decoder");
        if (type != "ByteLevel")
        {
            throw Unsupported("decoder.type", $"'{type}'", "The decoder must be ByteLevel.");
        }
    }

    void ReadPostProcessor(JsonElement root)
    {
        (List<int> prefix, List<int> suffix) = PostProcessorJson.Read(root, path, (key, value) => Unsupported(key, value));
        PrefixIds.AddRange(prefix);
        SuffixIds.AddRange(suffix);
    }
}
