using System.Collections.Frozen;
using System.Text.Json;

namespace LlavaModal.Tokenizers.SentencePiece;

/// <summary>
/// A SentencePiece-style <c>tokenizer.json</c> (LLaMA-2, Vicuna, Mistral) run as Hugging Face's fast tokenizer does:
/// added tokens are matched in the raw text first (leftmost, longest); each remaining segment is normalized
/// (<c>Prepend("▁")</c> / <c>Replace(" ", "▁")</c>) or pre-tokenized by <c>Metaspace</c> (spaces to <c>▁</c>, a leading
/// <c>▁</c> per <c>prepend_scheme</c>: <c>first</c> only for the segment that starts the text, never twice), then
/// encoded by merge-rank BPE with byte fallback (<see cref="MergeBpe"/>). The file's own normalizer/pre-tokenizer say
/// whether it behaves as <c>legacy</c>; <c>tokenizer_config.json</c>'s <c>legacy</c> only matters for
/// <c>tokenizer.model</c>.
/// </summary>
/// <remarks>
/// BOS/EOS: for <c>tokenizer_class</c> <c>LlamaTokenizer</c> / <c>LlamaTokenizerFast</c> (what LLaMA-2, Vicuna and
/// Mistral name), transformers rebuilds the post-processor from <c>add_bos_token</c> (default true) and
/// <c>add_eos_token</c> (default false), and so does this class; for other classes the file's post-processor decides
/// and a contradicting setting is refused.
/// </remarks>
sealed class SentencePieceJsonTokenizer : ITokenizerBackend
{
    readonly Shared shared;
    readonly string?[] tokens;
    readonly FrozenDictionary<string, int> addedByContent;
    readonly FrozenSet<int> specialIds;
    readonly AddedTokenSplitter splitter;
    readonly SortedDictionary<int, AddedToken> added;
    readonly TokenizerFiles files;

    /// <summary>The parts that placeholder variants share.</summary>
    sealed record Shared(SentencePieceJson Json, MergeBpe Bpe, FrozenDictionary<string, int> Vocabulary, int[] PrefixIds, int[] SuffixIds);

    SentencePieceJsonTokenizer(Shared shared, SortedDictionary<int, AddedToken> added, HashSet<int> specialIds, TokenizerFiles files)
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
        this.added = added;
        this.files = files;
        VocabSize = size;
        BosTokenId = SpecialId("bos_token");
        EosTokenId = SpecialId("eos_token");
        PadTokenId = SpecialId("pad_token");
        UnkTokenId = SpecialId("unk_token");
    }

    public int VocabSize { get; }

    public int? BosTokenId { get; }

    public int? EosTokenId { get; }

    public int? PadTokenId { get; }

    public int? UnkTokenId { get; }

    public IReadOnlyDictionary<string, int> AddedTokens => addedByContent;

    internal IReadOnlyList<SentencePieceJson.DecodeStep> DecodeSteps => shared.Json.Decoder;

    /// <summary>Loads <c>tokenizer.json</c> (already parsed as <paramref name="root"/>) plus the config files of the folder.</summary>
    public static SentencePieceJsonTokenizer Load(string directory, JsonElement root)
    {
        string jsonPath = Path.Combine(directory, HfTokenizer.TokenizerJsonFileName);
        string configPath = Path.Combine(directory, TokenizerFiles.ConfigFileName);
        SentencePieceJson json = SentencePieceJson.Load(jsonPath, root);
        TokenizerFiles files = TokenizerFiles.Load(directory);
        var bpe = new MergeBpe(json);
        if (bpe.PartialByteTokens)
        {
            throw json.Unsupported("model.vocab", "(only some <0xNN> byte tokens)", "byte_fallback needs all 256 byte tokens here.");
        }

        if (files.CleanUpTokenizationSpaces)
        {
            // The clean-up rewrites finished text (" ." -> "."); LLaMA-style checkpoints turn it off.
            throw new NotSupportedException($"'{configPath}': clean_up_tokenization_spaces=true is not supported for a SentencePiece-style {HfTokenizer.TokenizerJsonFileName}.");
        }

        if (files.AddPrefixSpaceSetting is bool prefixSpace && prefixSpace != json.PrependsAtStart)
        {
            // transformers would rebuild tokenizer.json from tokenizer.model with this setting, which needs that file.
            throw new NotSupportedException(
                $"'{configPath}': add_prefix_space={(prefixSpace ? "true" : "false")} disagrees with '{jsonPath}', which " +
                $"{(json.PrependsAtStart ? "adds" : "does not add")} a leading '▁'; rebuilding it needs {HfTokenizer.SentencePieceFileName}.");
        }

        var vocabulary = json.Vocabulary.ToFrozenDictionary(StringComparer.Ordinal);
        var (added, specialIds, byContent) = files.MergeAddedTokens(json.AddedTokens, vocabulary, jsonPath, configPath);

        (int[] prefix, int[] suffix) = Template(json, files, byContent, vocabulary, jsonPath, configPath);
        var shared = new Shared(json, bpe, vocabulary, prefix, suffix);
        var tokenizer = new SentencePieceJsonTokenizer(shared, added, specialIds, files);
        foreach (int id in prefix.Concat(suffix))
        {
            if ((uint)id >= (uint)tokenizer.VocabSize || tokenizer.tokens[id] is null)
            {
                throw TokenizerFiles.Invalid(jsonPath, "post_processor", $"adds token id {id}, which is not in the vocabulary");
            }
        }

        return tokenizer;
    }

    /// <summary>The ids around a sequence: rebuilt from add_bos/add_eos for LLaMA tokenizers (as transformers does), else the file's.</summary>
    static (int[] Prefix, int[] Suffix) Template(
        SentencePieceJson json, TokenizerFiles files, Dictionary<string, int> added, FrozenDictionary<string, int> vocabulary, string jsonPath, string configPath)
    {
        int? Id(string key)
        {
            if (!files.SpecialTokens.TryGetValue(key, out string? content))
            {
                return null;
            }

            return added.TryGetValue(content, out int id) ? id : vocabulary.TryGetValue(content, out id) ? id : null;
        }

        if (files.TokenizerClass is "LlamaTokenizer" or "LlamaTokenizerFast")
        {
            bool addBos = files.AddBosTokenSetting ?? true;
            bool addEos = files.AddEosTokenSetting ?? false;
            int? bos = Id("bos_token");
            int? eos = Id("eos_token");
            if ((addBos && bos is null) || (addEos && eos is null))
            {
                throw TokenizerFiles.Invalid(configPath, addBos && bos is null ? "add_bos_token" : "add_eos_token", "is true but the matching special token is not set");
            }

            return (addBos ? [bos!.Value] : [], addEos ? [eos!.Value] : []);
        }

        Check(files.AddBosTokenSetting, "add_bos_token", Id("bos_token"), json.PrefixIds);
        Check(files.AddEosTokenSetting, "add_eos_token", Id("eos_token"), json.SuffixIds);
        return ([.. json.PrefixIds], [.. json.SuffixIds]);

        void Check(bool? setting, string key, int? id, List<int> template)
        {
            if (setting is bool wanted && wanted != (id is int i && template.Contains(i)))
            {
                throw new NotSupportedException(
                    $"'{configPath}': {key}={(wanted ? "true" : "false")} disagrees with the post_processor of '{jsonPath}'; " +
                    "rewriting the template is only done for tokenizer_class LlamaTokenizer/LlamaTokenizerFast, as transformers does.");
            }
        }
    }

    int? SpecialId(string key) =>
        files.SpecialTokens.TryGetValue(key, out string? content) ? TokenToId(content) : null;

    public ITokenizerBackend WithPlaceholders(IReadOnlyList<string> placeholders)
    {
        var added = new SortedDictionary<int, AddedToken>(this.added);
        var specialIds = new HashSet<int>(this.specialIds);
        int next = VocabSize;
        foreach (string placeholder in placeholders)
        {
            added[next] = new AddedToken(placeholder, next, false, false, false);
            specialIds.Add(next);
            next++;
        }

        return new SentencePieceJsonTokenizer(shared, added, specialIds, files);
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

    public byte[]? TextBytes(int id)
    {
        if ((uint)id >= (uint)tokens.Length || tokens[id] is not string token || added.ContainsKey(id) || id == UnkTokenId)
        {
            return null;
        }

        // The decoder chain without its sequence-level steps (Strip of the first space, joining byte runs).
        foreach (SentencePieceJson.DecodeStep step in DecodeSteps)
        {
            switch (step)
            {
                case SentencePieceJson.ReplaceStep replace:
                    token = token.Replace(replace.Pattern, replace.Content, StringComparison.Ordinal);
                    break;
                case SentencePieceJson.ByteFallbackStep when HfTokenizer.ByteOfPiece(token) is int b and >= 0:
                    return [(byte)b];
                case SentencePieceJson.MetaspaceStep:
                    token = token.Replace(SentencePieceJson.Replacement, ' ');
                    break;
            }
        }

        return System.Text.Encoding.UTF8.GetBytes(token);
    }

    public IReadOnlyList<int> Encode(string text, bool addSpecialTokens)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        if (addSpecialTokens)
        {
            ids.AddRange(shared.PrefixIds);
        }

        int offset = 0;
        foreach (AddedTokenSplitter.Segment segment in splitter.Split(text))
        {
            if (segment.Token is { } token)
            {
                ids.Add(token.Id);
            }
            else
            {
                // Segments come in order and only empty ones are dropped, so offset 0 is the start of the text.
                EncodeSegment(segment.Text, atStart: offset == 0, ids);
            }

            offset += segment.Text.Length;
        }

        if (addSpecialTokens)
        {
            ids.AddRange(shared.SuffixIds);
        }

        return ids;
    }

    void EncodeSegment(string text, bool atStart, List<int> ids)
    {
        SentencePieceJson json = shared.Json;
        const char rep = SentencePieceJson.Replacement;
        if (json.NormalizerReplacesSpaces)
        {
            text = text.Replace(' ', rep);
        }

        if (json.NormalizerPrepends)
        {
            text = rep + text;
        }

        if (json.Metaspace is not SentencePieceJson.PrependScheme scheme)
        {
            shared.Bpe.Encode(text, ids);
            return;
        }

        text = text.Replace(' ', rep);
        bool prepend = scheme == SentencePieceJson.PrependScheme.Always || (scheme == SentencePieceJson.PrependScheme.First && atStart);
        if (prepend && !text.StartsWith(rep))
        {
            text = rep + text;
        }

        if (!json.MetaspaceSplits)
        {
            shared.Bpe.Encode(text, ids);
            return;
        }

        // split=true: every '▁' starts a new word (the delimiter goes with what follows it).
        int start = 0;
        for (int i = 1; i <= text.Length; i++)
        {
            if (i == text.Length || text[i] == rep)
            {
                shared.Bpe.Encode(text[start..i], ids);
                start = i;
            }
        }
    }

    public IDecodeState CreateDecodeState(bool skipSpecialTokens) => new SentencePieceJsonDecodeState(this, skipSpecialTokens);
}
