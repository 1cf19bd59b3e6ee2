using System.Collections.Frozen;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace LlavaModal.Tokenizers.ByteLevel;

/// <summary>
/// Byte-level BPE from a Hugging Face <c>tokenizer.json</c> (LLaMA-3, Qwen2), reproducing HF's fast tokenizer:
/// added tokens are matched in the raw text first (leftmost, longest), the rest is NFC-normalized when the file asks,
/// split by the <c>Split</c> regex(es), and each piece is encoded by Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>
/// (byte-level, merges by rank); the post-processor template adds BOS/EOS. Decoding maps tokens back to bytes with
/// HF's <c>ByteLevel</c> decoder rule and reads them as UTF-8 (U+FFFD for invalid bytes).
/// </summary>
sealed class ByteLevelBpeTokenizer : ITokenizerBackend
{
    readonly Shared shared;
    readonly string?[] tokens;
    readonly FrozenDictionary<string, int> addedByContent;
    readonly FrozenSet<int> specialIds;
    readonly AddedTokenSplitter splitter;

    /// <summary>The parts that placeholder variants share.</summary>
    sealed record Shared(
        string Directory,
        BpeTokenizer Bpe,
        SplitPreTokenizer PreTokenizer,
        FrozenDictionary<string, int> Vocabulary,
        bool IgnoreMerges,
        bool NormalizeNfc,
        bool CleanUpTokenizationSpaces,
        int[] PrefixIds,
        int[] SuffixIds);

    ByteLevelBpeTokenizer(Shared shared, SortedDictionary<int, AddedToken> added, HashSet<int> specialIds, TokenizerFiles files)
    {
        this.shared = shared;
        int size = Math.Max(shared.Vocabulary.Count == 0 ? 0 : shared.Vocabulary.Values.Max() + 1, added.Count == 0 ? 0 : added.Keys.Max() + 1);
        tokens = new string?[size];
        foreach ((string token, int id) in shared.Vocabulary)
        {
            tokens[id] = token;
        }

        foreach ((int id, AddedToken token) in added)
        {
            tokens[id] = token.Content;
        }

        addedByContent = added.Values.ToFrozenDictionary(t => t.Content, t => t.Id, StringComparer.Ordinal);
        this.specialIds = specialIds.ToFrozenSet();
        splitter = new AddedTokenSplitter(added.Values);
        VocabSize = size;
        BosTokenId = SpecialId(files, "bos_token");
        EosTokenId = SpecialId(files, "eos_token");
        PadTokenId = SpecialId(files, "pad_token");
        UnkTokenId = SpecialId(files, "unk_token");
        Added = added;
        Files = files;
    }

    public int VocabSize { get; }

    public int? BosTokenId { get; }

    public int? EosTokenId { get; }

    public int? PadTokenId { get; }

    public int? UnkTokenId { get; }

    public IReadOnlyDictionary<string, int> AddedTokens => addedByContent;

    SortedDictionary<int, AddedToken> Added { get; }

    TokenizerFiles Files { get; }

    /// <summary>Loads <c>tokenizer.json</c> plus <c>tokenizer_config.json</c> / <c>special_tokens_map.json</c> / <c>added_tokens.json</c>.</summary>
    public static ByteLevelBpeTokenizer Load(string directory)
    {
        string jsonPath = Path.Combine(directory, HfTokenizer.TokenizerJsonFileName);
        string configPath = Path.Combine(directory, TokenizerFiles.ConfigFileName);
        TokenizerJson json = TokenizerJson.Load(jsonPath);
        TokenizerFiles files = TokenizerFiles.Load(directory);

        var preTokenizer = new SplitPreTokenizer(json.SplitPatterns);
        var options = new BpeOptions(json.Vocabulary)
        {
            Merges = json.Merges,
            ByteLevel = true,
            PreTokenizer = preTokenizer,
        };
        BpeTokenizer bpe;
        try
        {
            bpe = BpeTokenizer.Create(options);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // e.g. two tokens with one id, or a merge listed twice (the library keys merges by pair).
            throw new InvalidDataException($"'{jsonPath}': model.vocab / model.merges are inconsistent: {e.Message}", e);
        }

        var vocabulary = json.Vocabulary.ToFrozenDictionary(StringComparer.Ordinal);
        var (added, specialIds, _) = files.MergeAddedTokens(json.AddedTokens, vocabulary, jsonPath, configPath);

        var shared = new Shared(directory, bpe, preTokenizer, vocabulary, json.IgnoreMerges,
            json.NormalizeNfc, files.CleanUpTokenizationSpaces, [.. json.PrefixIds], [.. json.SuffixIds]);
        var tokenizer = new ByteLevelBpeTokenizer(shared, added, specialIds, files);
        tokenizer.CheckTemplate(jsonPath, configPath);
        return tokenizer;
    }

    /// <summary>The post-processor decides BOS/EOS; a tokenizer_config.json that says otherwise is refused, not guessed.</summary>
    void CheckTemplate(string jsonPath, string configPath)
    {
        foreach (int id in shared.PrefixIds.Concat(shared.SuffixIds))
        {
            if ((uint)id >= (uint)VocabSize || tokens[id] is null)
            {
                throw TokenizerFiles.Invalid(jsonPath, "post_processor", $"adds token id {id}, which is not in the vocabulary");
            }
        }

        Check(Files.AddBosTokenSetting, "add_bos_token", BosTokenId, shared.PrefixIds);
        Check(Files.AddEosTokenSetting, "add_eos_token", EosTokenId, shared.SuffixIds);

        void Check(bool? setting, string key, int? id, int[] template)
        {
            if (setting is not bool wanted)
            {
                return;
            }

            bool present = id is int i && template.Contains(i);
            if (wanted != present)
            {
                throw new NotSupportedException(
                    $"'{configPath}': {key}={(wanted ? "true" : "false")} disagrees with the post_processor of '{jsonPath}', " +
                    $"which {(present ? "adds" : "does not add")} that token; rewriting the template is not supported.");
            }
        }
    }

    int? SpecialId(TokenizerFiles files, string key) =>
        files.SpecialTokens.TryGetValue(key, out string? content) ? TokenToId(content) : null;

    public ITokenizerBackend WithPlaceholders(IReadOnlyList<string> placeholders)
    {
        var added = new SortedDictionary<int, AddedToken>(Added);
        var specialIds = new HashSet<int>(this.specialIds);
        int next = VocabSize;
        foreach (string placeholder in placeholders)
        {
            added[next] = new AddedToken(placeholder, next, false, false, false);
            specialIds.Add(next);
            next++;
        }

        return new ByteLevelBpeTokenizer(shared, added, specialIds, Files);
    }

    public int? TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return addedByContent.TryGetValue(token, out int id) || shared.Vocabulary.TryGetValue(token, out id) ? id : null;
    }

    public string IdToToken(int id) =>
        (uint)id < (uint)tokens.Length && tokens[id] is string token
            ? token
            : throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id outside the vocabulary of {VocabSize} tokens.");

    public bool IsSpecial(int id) => specialIds.Contains(id);

    /// <summary>The bytes of a token for decoding (HF <c>ByteLevel</c> decoder rule).</summary>
    internal byte[] TokenBytes(int id) => ByteLevelAlphabet.TokenBytes(IdToToken(id));

    public byte[]? TextBytes(int id) =>
        (uint)id < (uint)tokens.Length && tokens[id] is not null && !Added.ContainsKey(id) && id != UnkTokenId ? TokenBytes(id) : null;

    internal bool CleanUpTokenizationSpaces => shared.CleanUpTokenizationSpaces;

    public IReadOnlyList<int> Encode(string text, bool addSpecialTokens)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        if (addSpecialTokens)
        {
            ids.AddRange(shared.PrefixIds);
        }

        foreach (AddedTokenSplitter.Segment segment in splitter.Split(text))
        {
            if (segment.Token is { } token)
            {
                ids.Add(token.Id);
            }
            else
            {
                EncodeText(segment.Text, ids);
            }
        }

        if (addSpecialTokens)
        {
            ids.AddRange(shared.SuffixIds);
        }

        return ids;
    }

    /// <summary>Normalizer, Split pre-tokenizer, then BPE (by Microsoft.ML.Tokenizers) on each piece.</summary>
    void EncodeText(string text, List<int> ids)
    {
        if (shared.NormalizeNfc)
        {
            text = text.Normalize(NormalizationForm.FormC);
        }

        foreach ((int offset, int length) in shared.PreTokenizer.Split(text))
        {
            string piece = text.Substring(offset, length);

            // HF ignore_merges: a piece that is a whole vocabulary entry is that token, whatever the merges would give.
            if (shared.IgnoreMerges && shared.Vocabulary.TryGetValue(ByteLevelAlphabet.Encode(piece), out int whole))
            {
                ids.Add(whole);
                continue;
            }

            ids.AddRange(shared.Bpe.EncodeToIds(piece, considerPreTokenization: false, considerNormalization: false));
        }
    }

    public IDecodeState CreateDecodeState(bool skipSpecialTokens) => new ByteLevelDecodeState(this, skipSpecialTokens);
}
