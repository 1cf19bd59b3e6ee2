using System.Text.Json;
using LlavaModal.Tokenizers.ByteLevel;

namespace LlavaModal.Tokenizers.SentencePiece;

/// <summary>
/// The parts of a SentencePiece-style <c>tokenizer.json</c> (LLaMA-2, Vicuna, Mistral: BPE with <c>byte_fallback</c>,
/// spaces written as <c>▁</c> by a <c>Prepend</c>/<c>Replace</c> normalizer or a <c>Metaspace</c> pre-tokenizer),
/// read and checked. Whatever this form does not reproduce exactly throws <see cref="NotSupportedException"/> naming
/// the file, key and value; malformed values throw <see cref="InvalidDataException"/>.
/// </summary>
sealed class SentencePieceJson
{
    internal const char Replacement = '\u2581';

    readonly string path;

    SentencePieceJson(string path) => this.path = path;

    /// <summary>How a pre-tokenizer or decoder adds the leading <c>▁</c> (HF <c>prepend_scheme</c>).</summary>
    public enum PrependScheme
    {
        /// <summary>Before every text segment.</summary>
        Always,

        /// <summary>Only before the segment that starts the text (not after an added token).</summary>
        First,

        /// <summary>Never.</summary>
        Never,
    }

    /// <summary>One step of the decoder chain, applied in order.</summary>
    public abstract record DecodeStep;

    /// <summary><c>Replace</c> of a literal string in each token.</summary>
    public sealed record ReplaceStep(string Pattern, string Content) : DecodeStep;

    /// <summary><c>ByteFallback</c>: runs of <c>&lt;0xNN&gt;</c> tokens become their UTF-8 text.</summary>
    public sealed record ByteFallbackStep : DecodeStep;

    /// <summary><c>Strip</c> after <c>Fuse</c>: up to <paramref name="Start"/> leading <paramref name="Content"/> characters of the text go.</summary>
    public sealed record StripStep(char Content, int Start) : DecodeStep;

    /// <summary>The <c>Metaspace</c> decoder: <c>▁</c> becomes a space and the first token loses its leading space.</summary>
    public sealed record MetaspaceStep(PrependScheme Scheme) : DecodeStep;

    public Dictionary<string, int> Vocabulary { get; } = new(StringComparer.Ordinal);

    /// <summary>Merges as (left, right), highest priority first.</summary>
    public List<(string Left, string Right)> Merges { get; } = [];

    public bool ByteFallback { get; private set; }

    public bool FuseUnknown { get; private set; }

    public bool IgnoreMerges { get; private set; }

    public string? UnknownToken { get; private set; }

    /// <summary>The normalizer prepends <c>▁</c> to every non-empty segment (legacy LLaMA files).</summary>
    public bool NormalizerPrepends { get; private set; }

    /// <summary>The normalizer writes spaces as <c>▁</c>.</summary>
    public bool NormalizerReplacesSpaces { get; private set; }

    /// <summary>The <c>Metaspace</c> pre-tokenizer's prepend scheme, or null when there is no pre-tokenizer.</summary>
    public PrependScheme? Metaspace { get; private set; }

    /// <summary><c>Metaspace</c> with <c>split</c>: each <c>▁</c> starts a new word for BPE.</summary>
    public bool MetaspaceSplits { get; private set; }

    public List<DecodeStep> Decoder { get; } = [];

    /// <summary>Added tokens with their <c>special</c> flag.</summary>
    public List<(AddedToken Token, bool Special)> AddedTokens { get; } = [];

    public List<int> PrefixIds { get; } = [];

    public List<int> SuffixIds { get; } = [];

    /// <summary>True when a text that starts the input gets a leading <c>▁</c> (what <c>add_prefix_space</c> asks for).</summary>
    public bool PrependsAtStart => NormalizerPrepends || Metaspace is PrependScheme.Always or PrependScheme.First;

    /// <summary>
    /// True when <paramref name="root"/> is not a byte-level file: no <c>ByteLevel</c> pre-tokenizer or decoder anywhere.
    /// Byte-level files keep their own reader (and its messages); everything else is read as SentencePiece-style.
    /// </summary>
    public static bool Claims(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object && !HasByteLevel(root, "pre_tokenizer", "pretokenizers") && !HasByteLevel(root, "decoder", "decoders");

    static bool HasByteLevel(JsonElement root, string key, string listKey)
    {
        if (!root.TryGetProperty(key, out JsonElement step) || step.ValueKind != JsonValueKind.Object)
        {
            return false;
        }

        if (TokenizerJson.OptionalString(step, "type") == "ByteLevel")
        {
            return true;
        }

        return step.TryGetProperty(listKey, out JsonElement list) && list.ValueKind == JsonValueKind.Array
            && list.EnumerateArray().Any(s => s.ValueKind == JsonValueKind.Object && TokenizerJson.OptionalString(s, "type") == "ByteLevel");
    }

    public static SentencePieceJson Load(string path, JsonElement root)
    {
        var json = new SentencePieceJson(path);
        json.ReadModel(TokenizerJson.Required(root, "model", path));
        json.ReadNormalizer(root);
        json.ReadPreTokenizer(root);
        json.ReadAddedTokens(root);
        json.ReadDecoder(root);
        (List<int> prefix, List<int> suffix) = PostProcessorJson.Read(root, path, (key, value) => json.Unsupported(key, value));
        json.PrefixIds.AddRange(prefix);
        json.SuffixIds.AddRange(suffix);
        return json;
    }

    internal NotSupportedException Unsupported(string key, string value, string? hint = null) =>
        new($"'{path}': {key} = {value} is not supported; supported tokenizer.json forms are byte-level BPE (LLaMA-3, Qwen2) " +
            "and SentencePiece-style BPE (LLaMA-2, Vicuna, Mistral: byte_fallback, a Prepend/Replace normalizer or a Metaspace " +
            $"pre-tokenizer, a Replace/ByteFallback/Fuse/Strip or Metaspace decoder).{(hint is null ? string.Empty : " " + hint)}");

    string TypeOf(JsonElement obj, string key) =>
        TokenizerJson.OptionalString(obj, "type") ?? throw TokenizerFiles.Invalid(path, $"{key}.type", "is missing");

    void ReadModel(JsonElement model)
    {
        string type = TokenizerJson.OptionalString(model, "type") ?? (model.TryGetProperty("merges", out _) ? "BPE" : "(missing)");
        if (type != "BPE")
        {
            throw Unsupported("model.type", $"'{type}'");
        }

        if (model.TryGetProperty("dropout", out JsonElement dropout) && dropout.ValueKind != JsonValueKind.Null)
        {
            throw Unsupported("model.dropout", TokenizerJson.Describe(dropout));
        }

        foreach (string key in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
        {
            if (model.TryGetProperty(key, out JsonElement v) && v.ValueKind != JsonValueKind.Null
                && !(v.ValueKind == JsonValueKind.String && v.GetString()!.Length == 0))
            {
                throw Unsupported($"model.{key}", TokenizerJson.Describe(v));
            }
        }

        ByteFallback = TokenizerJson.OptionalBool(model, "byte_fallback", false);
        FuseUnknown = TokenizerJson.OptionalBool(model, "fuse_unk", false);
        IgnoreMerges = TokenizerJson.OptionalBool(model, "ignore_merges", false);
        UnknownToken = TokenizerJson.OptionalString(model, "unk_token");

        JsonElement vocab = TokenizerJson.Required(model, "vocab", path, "model");
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

        if (UnknownToken is not null && !Vocabulary.ContainsKey(UnknownToken))
        {
            throw TokenizerFiles.Invalid(path, "model.unk_token", $"names '{UnknownToken}', which is not in model.vocab");
        }

        // HF drops a character it can encode neither as a token, nor as bytes, nor as unk; refuse such a file instead.
        bool allBytes = Enumerable.Range(0, 256).All(b => Vocabulary.ContainsKey($"<0x{b:X2}>"));
        if (UnknownToken is null && !(ByteFallback && allBytes))
        {
            throw Unsupported("model.unk_token", "null", "Without an unknown token every byte must have a <0xNN> token and byte_fallback must be true, or text would be dropped.");
        }

        JsonElement merges = TokenizerJson.Required(model, "merges", path, "model");
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
            }
            else
            {
                throw TokenizerFiles.Invalid(path, key, "must be a string \"a b\" or a pair [\"a\", \"b\"]");
            }

            if (!Vocabulary.ContainsKey(left) || !Vocabulary.ContainsKey(right) || !Vocabulary.ContainsKey(left + right))
            {
                throw TokenizerFiles.Invalid(path, key, $"merges '{left}' and '{right}', but the vocabulary lacks one of them or their merge");
            }

            Merges.Add((left, right));
        }
    }

    void ReadNormalizer(JsonElement root)
    {
        if (!root.TryGetProperty("normalizer", out JsonElement normalizer) || normalizer.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        List<(JsonElement Step, string Key)> steps = [];
        if (TypeOf(normalizer, "normalizer") == "Sequence")
        {
            int i = 0;
            foreach (JsonElement step in TokenizerJson.Required(normalizer, "normalizers", path, "normalizer").EnumerateArray())
            {
                steps.Add((step, $"normalizer.normalizers[{i++}]"));
            }
        }
        else
        {
            steps.Add((normalizer, "normalizer"));
        }

        foreach ((JsonElement step, string key) in steps)
        {
            string type = TypeOf(step, key);
            if (type == "Prepend" && !NormalizerPrepends && TokenizerJson.OptionalString(step, "prepend") == Replacement.ToString())
            {
                NormalizerPrepends = true;
            }
            else if (type == "Replace" && !NormalizerReplacesSpaces && IsSpaceToMetaspace(step))
            {
                NormalizerReplacesSpaces = true;
            }
            else
            {
                throw Unsupported($"{key}.type", $"'{type}'", "Supported normalizers: Prepend(\"▁\") and Replace(\" \" -> \"▁\"), each at most once.");
            }
        }
    }

    static bool IsSpaceToMetaspace(JsonElement step) =>
        step.TryGetProperty("pattern", out JsonElement pattern) && TokenizerJson.OptionalString(pattern, "String") == " "
        && TokenizerJson.OptionalString(step, "content") == Replacement.ToString();

    void ReadPreTokenizer(JsonElement root)
    {
        if (!root.TryGetProperty("pre_tokenizer", out JsonElement pre) || pre.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        string type = TypeOf(pre, "pre_tokenizer");
        if (type != "Metaspace")
        {
            throw Unsupported("pre_tokenizer.type", $"'{type}'", "Supported pre-tokenizers: none or Metaspace.");
        }

        Metaspace = ReadMetaspace(pre, "pre_tokenizer");

        // tokenizers' Metaspace splits by default (files from before the key existed did).
        MetaspaceSplits = TokenizerJson.OptionalBool(pre, "split", true);
    }

    PrependScheme ReadMetaspace(JsonElement step, string key)
    {
        string? replacement = TokenizerJson.OptionalString(step, "replacement");
        if (replacement != Replacement.ToString())
        {
            throw Unsupported($"{key}.replacement", replacement is null ? "(missing)" : $"'{replacement}'", "Only '▁' is supported.");
        }

        // Older files say add_prefix_space (true = always); newer ones prepend_scheme.
        string scheme = TokenizerJson.OptionalString(step, "prepend_scheme")
            ?? (TokenizerJson.OptionalBool(step, "add_prefix_space", true) ? "always" : "never");
        return scheme switch
        {
            "always" => PrependScheme.Always,
            "first" => PrependScheme.First,
            "never" => PrependScheme.Never,
            _ => throw Unsupported($"{key}.prepend_scheme", $"'{scheme}'"),
        };
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

        bool hasNormalizer = NormalizerPrepends || NormalizerReplacesSpaces;
        int i = 0;
        foreach (JsonElement token in added.EnumerateArray())
        {
            string key = $"added_tokens[{i++}]";
            if (token.ValueKind != JsonValueKind.Object || !token.TryGetProperty("id", out JsonElement idValue)
                || !idValue.TryGetInt32(out int id) || id < 0)
            {
                throw TokenizerFiles.Invalid(path, $"{key}.id", "must be a non-negative integer");
            }

            string content = TokenizerJson.OptionalString(token, "content") is { Length: > 0 } c
                ? c
                : throw TokenizerFiles.Invalid(path, $"{key}.content", "must be a non-empty string");
            foreach (string flag in new[] { "lstrip", "rstrip", "single_word" })
            {
                if (TokenizerJson.OptionalBool(token, flag, false))
                {
                    throw Unsupported($"{key}.{flag}", $"true (token '{content}')");
                }
            }

            bool special = TokenizerJson.OptionalBool(token, "special", false);
            bool normalized = TokenizerJson.OptionalBool(token, "normalized", !special);
            if (normalized && hasNormalizer)
            {
                // HF would match this token in the normalized text; this path matches added tokens in the raw text only.
                throw Unsupported($"{key}.normalized", $"true (token '{content}') together with a normalizer");
            }

            AddedTokens.Add((new AddedToken(content, id, false, false, false), special));
        }
    }

    void ReadDecoder(JsonElement root)
    {
        JsonElement decoder = root.TryGetProperty("decoder", out JsonElement d) ? d : default;
        if (decoder.ValueKind != JsonValueKind.Object)
        {
            throw Unsupported("decoder", decoder.ValueKind == JsonValueKind.Undefined ? "(missing)" : TokenizerJson.Describe(decoder));
        }

        string type = TypeOf(decoder, "decoder");
        if (type == "Metaspace")
        {
            Decoder.Add(new MetaspaceStep(ReadMetaspace(decoder, "decoder")));
            return;
        }

        if (type != "Sequence")
        {
            throw Unsupported("decoder.type", $"'{type}'", "Supported decoders: Metaspace, or a Sequence of Replace, ByteFallback, Fuse, Strip.");
        }

        // Replace steps, then ByteFallback, then Fuse, then Strip: the order LLaMA and Mistral files use. Other orders
        // would apply a step to text another step produced, which this streaming decoder does not model.
        int stage = 0;
        int i = 0;
        foreach (JsonElement step in TokenizerJson.Required(decoder, "decoders", path, "decoder").EnumerateArray())
        {
            string key = $"decoder.decoders[{i++}]";
            string stepType = TypeOf(step, key);
            switch (stepType)
            {
                case "Replace" when stage == 0:
                    string pattern = step.TryGetProperty("pattern", out JsonElement p) ? TokenizerJson.OptionalString(p, "String") ?? throw Unsupported($"{key}.pattern", TokenizerJson.Describe(p), "Only literal String patterns are supported.") : throw TokenizerFiles.Invalid(path, $"{key}.pattern", "is missing");
                    Decoder.Add(new ReplaceStep(pattern, TokenizerJson.OptionalString(step, "content") ?? throw TokenizerFiles.Invalid(path, $"{key}.content", "is missing")));
                    break;
                case "ByteFallback" when stage == 0:
                    Decoder.Add(new ByteFallbackStep());
                    stage = 1;
                    break;
                case "Fuse" when stage <= 1:
                    stage = 2;
                    break;
                case "Strip" when stage == 2:
                    string? content = TokenizerJson.OptionalString(step, "content");
                    int start = step.TryGetProperty("start", out JsonElement s) && s.TryGetInt32(out int sv) ? sv : 0;
                    int stop = step.TryGetProperty("stop", out JsonElement e) && e.TryGetInt32(out int ev) ? ev : 0;
                    if (content is not { Length: 1 } || start < 0 || stop != 0)
                    {
                        throw Unsupported(key, TokenizerJson.Describe(step), "Only Strip of one character at the start (stop 0) is supported.");
                    }

                    Decoder.Add(new StripStep(content[0], start));
                    stage = 3;
                    break;
                default:
                    throw Unsupported($"{key}.type", $"'{stepType}'", "Supported: Replace steps, then ByteFallback, then Fuse, then Strip.");
            }
        }
    }
}
