using System.Text.Json;

namespace LlavaModal.Tokenizers;

/// <summary>
/// The Hugging Face tokenizer files of a model directory, parsed into the few facts the
/// slow <c>LlamaTokenizer</c> semantics depend on. Every malformed value throws an
/// <see cref="InvalidDataException"/> naming the file and the key.
/// </summary>
sealed class TokenizerFiles
{
    internal const string ConfigFileName = "tokenizer_config.json";
    internal const string SpecialTokensMapFileName = "special_tokens_map.json";
    internal const string AddedTokensFileName = "added_tokens.json";

    /// <summary>Special-token attribute names HF knows, in the order it lists them.</summary>
    static readonly string[] SpecialTokenKeys =
        ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

    public bool AddBosToken { get; private set; } = true;

    public bool AddEosToken { get; private set; }

    /// <summary><c>add_bos_token</c> as written in <c>tokenizer_config.json</c>, or null when the key is absent.</summary>
    public bool? AddBosTokenSetting { get; private set; }

    /// <summary><c>add_eos_token</c> as written in <c>tokenizer_config.json</c>, or null when the key is absent.</summary>
    public bool? AddEosTokenSetting { get; private set; }

    /// <summary>HF 4.44 treats a missing <c>legacy</c> key as <c>true</c> (and warns).</summary>
    public bool Legacy { get; private set; } = true;

    /// <summary>HF 4.44 <c>LlamaTokenizer</c> defaults <c>add_prefix_space</c> to <c>true</c>.</summary>
    public bool AddPrefixSpace { get; private set; } = true;

    /// <summary><c>add_prefix_space</c> as written in <c>tokenizer_config.json</c>, or null when the key is absent.</summary>
    public bool? AddPrefixSpaceSetting { get; private set; }

    /// <summary><c>tokenizer_class</c> of <c>tokenizer_config.json</c>, or null.</summary>
    public string? TokenizerClass { get; private set; }

    /// <summary><c>LlamaTokenizer</c> defaults <c>clean_up_tokenization_spaces</c> to <c>false</c>.</summary>
    public bool CleanUpTokenizationSpaces { get; private set; }

    /// <summary>Special-token attribute (e.g. <c>bos_token</c>) to its content.</summary>
    public Dictionary<string, string> SpecialTokens { get; } = new(StringComparer.Ordinal);

    /// <summary>Contents of <c>additional_special_tokens</c>, in file order.</summary>
    public List<string> AdditionalSpecialTokens { get; } = [];

    /// <summary>Added tokens by id, from <c>added_tokens_decoder</c> then <c>added_tokens.json</c>.</summary>
    public SortedDictionary<int, AddedToken> AddedTokens { get; } = [];

    public static TokenizerFiles Load(string directory)
    {
        var files = new TokenizerFiles();
        string configPath = Path.Combine(directory, ConfigFileName);
        if (File.Exists(configPath))
        {
            files.ReadConfig(configPath);
        }

        // HF lets special_tokens_map.json override the attributes of tokenizer_config.json.
        string mapPath = Path.Combine(directory, SpecialTokensMapFileName);
        if (File.Exists(mapPath))
        {
            using JsonDocument doc = Parse(mapPath);
            files.ReadSpecialTokens(doc.RootElement, mapPath);
        }

        string addedPath = Path.Combine(directory, AddedTokensFileName);
        if (File.Exists(addedPath))
        {
            using JsonDocument doc = Parse(addedPath);
            files.ReadAddedTokensJson(doc.RootElement, addedPath);
        }

        return files;
    }

    void ReadConfig(string path)
    {
        using JsonDocument doc = Parse(path);
        JsonElement root = doc.RootElement;
        AddBosTokenSetting = ReadBool(root, "add_bos_token", path);
        AddEosTokenSetting = ReadBool(root, "add_eos_token", path);
        AddBosToken = AddBosTokenSetting ?? AddBosToken;
        AddEosToken = AddEosTokenSetting ?? AddEosToken;
        Legacy = ReadBool(root, "legacy", path) ?? Legacy;
        AddPrefixSpaceSetting = ReadBool(root, "add_prefix_space", path);
        AddPrefixSpace = AddPrefixSpaceSetting ?? AddPrefixSpace;
        TokenizerClass = root.TryGetProperty("tokenizer_class", out JsonElement cls) && cls.ValueKind == JsonValueKind.String ? cls.GetString() : null;
        CleanUpTokenizationSpaces = ReadBool(root, "clean_up_tokenization_spaces", path) ?? CleanUpTokenizationSpaces;
        if (root.TryGetProperty("split_special_tokens", out JsonElement split) && split.ValueKind == JsonValueKind.True)
        {
            throw new NotSupportedException($"'{path}': split_special_tokens=true is not supported.");
        }

        if (root.TryGetProperty("added_tokens_decoder", out JsonElement decoder) && decoder.ValueKind != JsonValueKind.Null)
        {
            if (decoder.ValueKind != JsonValueKind.Object)
            {
                throw Invalid(path, "added_tokens_decoder", "must be an object mapping ids to token objects");
            }

            foreach (JsonProperty entry in decoder.EnumerateObject())
            {
                string key = $"added_tokens_decoder.{entry.Name}";
                if (!int.TryParse(entry.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int id))
                {
                    throw Invalid(path, key, "the key must be a non-negative integer id");
                }

                if (entry.Value.ValueKind != JsonValueKind.Object)
                {
                    throw Invalid(path, key, "must be an object with 'content'");
                }

                string content = ReadTokenContent(entry.Value, path, key)
                    ?? throw Invalid(path, key, "'content' is missing or null");
                AddedTokens[id] = new AddedToken(
                    content,
                    id,
                    ReadBool(entry.Value, "lstrip", path, key) ?? false,
                    ReadBool(entry.Value, "rstrip", path, key) ?? false,
                    ReadBool(entry.Value, "single_word", path, key) ?? false);
            }
        }

        ByContent(AddedTokens.Values, path);
        ReadSpecialTokens(root, path);
    }

    /// <summary>
    /// The added tokens of a <c>tokenizer.json</c> folder: <c>tokenizer.json</c>'s first, then <c>added_tokens_decoder</c>,
    /// which must agree with them; tokens named by special-token attributes are special (Hugging Face registers them as
    /// special added tokens), taken from <paramref name="vocabulary"/> when not added.
    /// </summary>
    /// <exception cref="InvalidDataException">Disagreeing ids, a content given two ids, or a special token found nowhere (naming file and key).</exception>
    /// <exception cref="NotSupportedException">An added token with lstrip, rstrip or single_word.</exception>
    internal (SortedDictionary<int, AddedToken> Added, HashSet<int> SpecialIds, Dictionary<string, int> ByContent) MergeAddedTokens(
        IEnumerable<(AddedToken Token, bool Special)> fromJson, IReadOnlyDictionary<string, int> vocabulary, string jsonPath, string configPath)
    {
        var added = new SortedDictionary<int, AddedToken>();
        var specialIds = new HashSet<int>();
        foreach ((AddedToken token, bool special) in fromJson)
        {
            added[token.Id] = token;
            if (special)
            {
                specialIds.Add(token.Id);
            }
        }

        foreach ((int id, AddedToken token) in AddedTokens)
        {
            if (token.LeftStrip || token.RightStrip || token.SingleWord)
            {
                throw new NotSupportedException(
                    $"'{configPath}': added_tokens_decoder.{id} ('{token.Content}') uses lstrip/rstrip/single_word, which is not supported for tokenizer.json.");
            }

            if (added.TryGetValue(id, out AddedToken? existing))
            {
                if (existing.Content != token.Content)
                {
                    throw Invalid(configPath, $"added_tokens_decoder.{id}",
                        $"is '{token.Content}' but {HfTokenizer.TokenizerJsonFileName} has '{existing.Content}' for that id");
                }
            }
            else
            {
                added[id] = token;
            }
        }

        var byContent = ByContent(added.Values, jsonPath);
        var named = SpecialTokens.Select(kv => (kv.Key, kv.Value))
            .Concat(AdditionalSpecialTokens.Select(c => ("additional_special_tokens", c)));
        foreach ((string key, string content) in named)
        {
            if (!byContent.TryGetValue(content, out int id))
            {
                id = vocabulary.TryGetValue(content, out int vocabId)
                    ? vocabId
                    : throw Invalid(configPath, key,
                        $"names '{content}', which is neither in the vocabulary of {HfTokenizer.TokenizerJsonFileName} nor an added token");
                added[id] = new AddedToken(content, id, false, false, false);
                byContent[content] = id;
            }

            specialIds.Add(id);
        }

        return (added, specialIds, byContent);
    }

    /// <summary>
    /// Added tokens by content. Two ids with one content would make encoding ambiguous (the reference silently keeps the
    /// later one); refused naming <paramref name="path"/>, the content and both ids.
    /// </summary>
    /// <exception cref="InvalidDataException">A content given to two ids.</exception>
    internal static Dictionary<string, int> ByContent(IEnumerable<AddedToken> tokens, string path)
    {
        var byContent = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (AddedToken token in tokens)
        {
            if (!byContent.TryAdd(token.Content, token.Id))
            {
                throw new InvalidDataException(
                    $"'{path}': the added token '{token.Content}' is given two ids, {byContent[token.Content]} and {token.Id}; each added token needs its own content.");
            }
        }

        return byContent;
    }

    void ReadSpecialTokens(JsonElement root, string path)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw Invalid(path, "(root)", "must be a JSON object");
        }

        foreach (string key in SpecialTokenKeys)
        {
            if (!root.TryGetProperty(key, out JsonElement value))
            {
                continue;
            }

            string? content = ReadTokenContent(value, path, key);
            if (content is null)
            {
                SpecialTokens.Remove(key);
            }
            else
            {
                SpecialTokens[key] = content;
            }
        }

        if (root.TryGetProperty("additional_special_tokens", out JsonElement extra) && extra.ValueKind != JsonValueKind.Null)
        {
            if (extra.ValueKind != JsonValueKind.Array)
            {
                throw Invalid(path, "additional_special_tokens", "must be an array");
            }

            AdditionalSpecialTokens.Clear();
            int i = 0;
            foreach (JsonElement item in extra.EnumerateArray())
            {
                string key = $"additional_special_tokens[{i++}]";
                AdditionalSpecialTokens.Add(ReadTokenContent(item, path, key) ?? throw Invalid(path, key, "must not be null"));
            }
        }
    }

    void ReadAddedTokensJson(JsonElement root, string path)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw Invalid(path, "(root)", "must be an object mapping token strings to ids");
        }

        foreach (JsonProperty entry in root.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
            {
                throw Invalid(path, entry.Name, "the id must be a non-negative integer");
            }

            // added_tokens_decoder is the richer source (strip flags); this file only fills gaps.
            if (!AddedTokens.ContainsKey(id))
            {
                AddedTokens[id] = new AddedToken(entry.Name, id, false, false, false);
            }
            else if (AddedTokens[id].Content != entry.Name)
            {
                throw Invalid(path, entry.Name, $"id {id} is already '{AddedTokens[id].Content}' in {ConfigFileName}");
            }
        }

        ByContent(AddedTokens.Values, path);
    }

    /// <summary>A token value is either a string or an <c>AddedToken</c> object with <c>content</c>; null means unset.</summary>
    static string? ReadTokenContent(JsonElement value, string path, string key) => value.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Object when value.TryGetProperty("content", out JsonElement c) && c.ValueKind == JsonValueKind.String => c.GetString(),
        JsonValueKind.Object => throw Invalid(path, key, "a token object needs a string 'content'"),
        _ => throw Invalid(path, key, $"expected a string or an object with 'content', found {value.ValueKind}"),
    };

    static bool? ReadBool(JsonElement obj, string name, string path, string? parent = null)
    {
        if (!obj.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Invalid(path, parent is null ? name : $"{parent}.{name}", $"expected true or false, found {value.ValueKind}"),
        };
    }

    internal static JsonDocument Parse(string path)
    {
        try
        {
            return JsonDocument.Parse(TokenizerInput.ReadJson(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not valid JSON: {e.Message}", e);
        }
    }

    internal static InvalidDataException Invalid(string path, string key, string problem) =>
        new($"'{path}': key '{key}' {problem}.");
}
