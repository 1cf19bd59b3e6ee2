using System.Collections.Frozen;
using System.Text.Json;
using System.Text.RegularExpressions;
using LlavaModal.Tokenizers.ByteLevel;
using LlavaModal.Tokenizers.SentencePiece;

namespace LlavaModal.Tokenizers;

/// <summary>
/// A text tokenizer for Hugging Face model directories. With <c>tokenizer.model</c> it reproduces the slow
/// <c>LlamaTokenizer</c> (transformers 4.44): SentencePiece BPE plus the added / special tokens, BOS/EOS and
/// <c>legacy</c> rules of <c>tokenizer_config.json</c>, including its decode spacing quirks. With only
/// <c>tokenizer.json</c> it reproduces the fast tokenizer for byte-level BPE (LLaMA-3, Qwen2) through
/// Microsoft.ML.Tokenizers (see <see cref="ByteLevelBpeTokenizer"/>) and for SentencePiece-style BPE (LLaMA-2, Vicuna,
/// Mistral; see <see cref="SentencePieceJsonTokenizer"/>).
/// </summary>
/// <remarks>
/// Instances are immutable; <see cref="Encode"/> and <see cref="Decode"/> may be called concurrently.
/// Only SentencePiece BPE models with the identity normalizer (LLaMA, LLaMA-2, Vicuna, Mistral, LLaVA-1.5), and
/// byte-level or SentencePiece-style BPE <c>tokenizer.json</c> files are supported; anything else is refused with
/// <see cref="NotSupportedException"/> rather than tokenized differently.
/// </remarks>
public sealed partial class HfTokenizer
{
    internal const string SentencePieceFileName = "tokenizer.model";
    internal const string TokenizerJsonFileName = "tokenizer.json";
    internal const char SpaceSymbol = '\u2581';

    readonly SentencePieceModel model;
    readonly SentencePieceBpe bpe;
    readonly IReadOnlyList<string> pieces;
    readonly FrozenDictionary<string, int> pieceToId;
    readonly AddedTokenSplitter splitter;
    readonly FrozenDictionary<int, string> addedById;
    readonly FrozenDictionary<string, int> addedByContent;
    readonly FrozenSet<string> specialTokens;
    readonly FrozenSet<int> specialIds;
    readonly FrozenSet<int> legacyAddedIds;
    readonly int spaceSymbolId;

    readonly string directory;

    /// <summary>The backend of a non-SentencePiece format, or null for the SentencePiece path of this class.</summary>
    readonly ITokenizerBackend? backend;

    HfTokenizer(ITokenizerBackend backend, string directory)
    {
        // The SentencePiece fields stay unset: every member that reads them forwards to the backend first.
        this.backend = backend;
        this.directory = directory;
        model = null!;
        bpe = null!;
        pieces = [];
        pieceToId = FrozenDictionary<string, int>.Empty;
        splitter = null!;
        addedById = FrozenDictionary<int, string>.Empty;
        addedByContent = FrozenDictionary<string, int>.Empty;
        specialTokens = FrozenSet<string>.Empty;
        specialIds = FrozenSet<int>.Empty;
        legacyAddedIds = FrozenSet<int>.Empty;
        spaceSymbolId = -1;
        VocabSize = backend.VocabSize;
        BosTokenId = backend.BosTokenId;
        EosTokenId = backend.EosTokenId;
        PadTokenId = backend.PadTokenId;
        UnkTokenId = backend.UnkTokenId;
    }

    HfTokenizer(SentencePieceModel model, TokenizerFiles files, string directory)
    {
        this.directory = directory;
        this.model = model;
        bpe = new SentencePieceBpe(model);
        pieces = model.Pieces;
        Legacy = files.Legacy;
        AddPrefixSpace = files.AddPrefixSpace;
        AddBosToken = files.AddBosToken;
        AddEosToken = files.AddEosToken;

        var pieceToId = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int id = 0; id < pieces.Count; id++)
        {
            pieceToId.TryAdd(pieces[id], id);
        }

        this.pieceToId = pieceToId.ToFrozenDictionary(StringComparer.Ordinal);
        spaceSymbolId = this.pieceToId.GetValueOrDefault(SpaceSymbol.ToString(), -1);

        // HF registers every special token as an added token, so "<s>" etc. in text are matched as tokens.
        var added = new Dictionary<int, AddedToken>(files.AddedTokens);
        var specialContents = new List<(string Key, string Content)>();
        foreach ((string key, string content) in files.SpecialTokens)
        {
            specialContents.Add((key, content));
        }

        foreach (string content in files.AdditionalSpecialTokens)
        {
            specialContents.Add(("additional_special_tokens", content));
        }

        var addedByContent = TokenizerFiles.ByContent(added.Values, Path.Combine(directory, TokenizerFiles.ConfigFileName));
        var specialIds = new HashSet<int>();
        foreach ((string key, string content) in specialContents)
        {
            if (!addedByContent.TryGetValue(content, out int id))
            {
                id = this.pieceToId.TryGetValue(content, out int pieceId)
                    ? pieceId
                    : throw TokenizerFiles.Invalid(
                        Path.Combine(directory, TokenizerFiles.ConfigFileName), key,
                        $"names '{content}', which is neither a piece of {SentencePieceFileName} nor an added token");
                added[id] = new AddedToken(content, id, false, false, false);
                addedByContent[content] = id;
            }

            specialIds.Add(id);
        }

        addedById = added.ToFrozenDictionary(kv => kv.Key, kv => kv.Value.Content);
        this.addedByContent = addedByContent.ToFrozenDictionary(StringComparer.Ordinal);
        splitter = new AddedTokenSplitter(added.Values);
        specialTokens = specialContents.Select(s => s.Content).ToFrozenSet(StringComparer.Ordinal);
        this.specialIds = specialIds.ToFrozenSet();

        // HF decode joins these with spaces: added tokens that are not special, plus additional special
        // tokens beyond the SentencePiece vocabulary (e.g. <image>, but not <pad>).
        legacyAddedIds = added.Values
            .Where(t => !specialTokens.Contains(t.Content)
                || (files.AdditionalSpecialTokens.Contains(t.Content) && t.Id >= pieces.Count))
            .Select(t => t.Id)
            .ToFrozenSet();

        VocabSize = pieces.Count + added.Keys.Count(id => id >= pieces.Count);
        BosTokenId = SpecialId(files, "bos_token");
        EosTokenId = SpecialId(files, "eos_token");
        PadTokenId = SpecialId(files, "pad_token");
        UnkTokenId = SpecialId(files, "unk_token");
    }

    /// <summary>Number of token ids the tokenizer knows: SentencePiece pieces plus added tokens (HF <c>len(tokenizer)</c>).</summary>
    public int VocabSize { get; }

    /// <summary>Id of <c>bos_token</c>, or null when the tokenizer defines none.</summary>
    public int? BosTokenId { get; }

    /// <summary>Id of <c>eos_token</c>, or null when the tokenizer defines none.</summary>
    public int? EosTokenId { get; }

    /// <summary>Id of <c>pad_token</c>, or null when the tokenizer defines none.</summary>
    public int? PadTokenId { get; }

    /// <summary>Id of <c>unk_token</c>, or null when the tokenizer defines none.</summary>
    public int? UnkTokenId { get; }

    /// <summary>Added tokens (including the special tokens HF registers as added tokens), by content.</summary>
    public IReadOnlyDictionary<string, int> AddedTokens => backend?.AddedTokens ?? addedByContent;

    internal bool Legacy { get; }

    internal bool AddPrefixSpace { get; }

    internal bool AddBosToken { get; }

    internal bool AddEosToken { get; }

    internal FrozenSet<string> SpecialTokenContents => specialTokens;

    internal FrozenSet<int> LegacyAddedIds => legacyAddedIds;

    /// <summary>
    /// Loads the tokenizer of a Hugging Face model directory: <c>tokenizer.model</c> (SentencePiece) when present,
    /// otherwise <c>tokenizer.json</c> (byte-level BPE, or SentencePiece-style BPE with byte fallback), with <c>tokenizer_config.json</c>,
    /// <c>special_tokens_map.json</c> and <c>added_tokens.json</c> when present.
    /// </summary>
    /// <param name="modelDirectory">The model directory.</param>
    /// <returns>The tokenizer.</returns>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    /// <exception cref="FileNotFoundException">Neither <c>tokenizer.model</c> nor <c>tokenizer.json</c> exists.</exception>
    /// <exception cref="NotSupportedException">The files ask for behaviour this class does not reproduce (the message names the file, key and value).</exception>
    /// <exception cref="InvalidDataException">A file is malformed; the message names the file and key.</exception>
    public static HfTokenizer FromPretrained(string modelDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelDirectory);
        if (!Directory.Exists(modelDirectory))
        {
            throw new DirectoryNotFoundException($"Tokenizer directory '{modelDirectory}' does not exist.");
        }

        string modelPath = Path.Combine(modelDirectory, SentencePieceFileName);
        if (!File.Exists(modelPath))
        {
            string jsonPath = Path.Combine(modelDirectory, TokenizerJsonFileName);
            if (File.Exists(jsonPath))
            {
                return new HfTokenizer(LoadTokenizerJson(modelDirectory, jsonPath), modelDirectory);
            }

            throw new FileNotFoundException(
                $"No tokenizer in '{modelDirectory}': expected '{SentencePieceFileName}' (SentencePiece) or '{TokenizerJsonFileName}' (byte-level or SentencePiece-style BPE).", modelPath);
        }

        TokenizerFiles files = TokenizerFiles.Load(modelDirectory);
        if (files.CleanUpTokenizationSpaces)
        {
            // HF's clean-up rewrites finished text (" ." -> "."), which a streaming decoder cannot reproduce.
            throw new NotSupportedException(
                $"'{Path.Combine(modelDirectory, TokenizerFiles.ConfigFileName)}': clean_up_tokenization_spaces=true is not supported.");
        }

        return new HfTokenizer(SentencePieceModel.Load(modelPath), files, modelDirectory);
    }

    /// <summary>
    /// Byte-level BPE (LLaMA-3, Qwen2) when a <c>ByteLevel</c> pre-tokenizer or decoder is present, else the
    /// SentencePiece-style reader (LLaMA-2, Vicuna, Mistral); each refuses what it does not reproduce.
    /// </summary>
    static ITokenizerBackend LoadTokenizerJson(string directory, string jsonPath)
    {
        using JsonDocument doc = TokenizerFiles.Parse(jsonPath);
        return SentencePieceJson.Claims(doc.RootElement)
            ? SentencePieceJsonTokenizer.Load(directory, doc.RootElement)
            : ByteLevelBpeTokenizer.Load(directory);
    }

    /// <summary>
    /// A tokenizer that also knows <paramref name="placeholders"/> (media markers such as <c>&lt;audio&gt;</c>) as
    /// special tokens, with new ids after the vocabulary for those it does not know yet. The multimodal model
    /// replaces those ids by media embeddings, so they never reach the embedding table.
    /// </summary>
    internal HfTokenizer WithPlaceholders(IEnumerable<string> placeholders)
    {
        var missing = placeholders.Where(p => TokenToId(p) is null).Distinct(StringComparer.Ordinal).ToList();
        if (missing.Count == 0)
        {
            return this;
        }

        if (backend is not null)
        {
            return new HfTokenizer(backend.WithPlaceholders(missing), directory);
        }

        TokenizerFiles files = TokenizerFiles.Load(directory);
        int next = VocabSize;
        foreach (string placeholder in missing)
        {
            files.AddedTokens[next] = new AddedToken(placeholder, next, false, false, false);
            files.AdditionalSpecialTokens.Add(placeholder);
            next++;
        }

        return new HfTokenizer(model, files, directory);
    }

    int? SpecialId(TokenizerFiles files, string key) =>
        files.SpecialTokens.TryGetValue(key, out string? content) ? TokenToId(content) : null;

    /// <summary>Looks a token string up: added tokens first, then SentencePiece pieces.</summary>
    /// <param name="token">The token string, e.g. <c>"&lt;s&gt;"</c> or <c>"▁the"</c>.</param>
    /// <returns>The id, or null when the token is unknown.</returns>
    public int? TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (backend is not null)
        {
            return backend.TokenToId(token);
        }

        if (addedByContent.TryGetValue(token, out int id) || pieceToId.TryGetValue(token, out id))
        {
            return id;
        }

        return null;
    }

    /// <summary>The token string of an id (HF <c>convert_ids_to_tokens</c>).</summary>
    /// <param name="id">A token id in [0, <see cref="VocabSize"/>).</param>
    /// <returns>The added-token content or SentencePiece piece.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The id is unknown.</exception>
    public string IdToToken(int id)
    {
        if (backend is not null)
        {
            return backend.IdToToken(id);
        }

        if (addedById.TryGetValue(id, out string? content))
        {
            return content;
        }

        if ((uint)id < (uint)pieces.Count)
        {
            return pieces[id];
        }

        throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id outside the vocabulary of {VocabSize} tokens.");
    }

    /// <summary>True for the ids of the special tokens (bos/eos/unk/pad/... and <c>additional_special_tokens</c>), the ids HF's <c>skip_special_tokens</c> removes.</summary>
    /// <param name="id">A token id.</param>
    /// <returns>Whether the id is special.</returns>
    public bool IsSpecial(int id) => backend?.IsSpecial(id) ?? specialIds.Contains(id);

    /// <summary>
    /// The bytes token <paramref name="id"/> adds to decoded text in the middle of a sequence (a word-start marker as
    /// a space, a byte-fallback piece as its byte), or null for an added, special or unknown token. Constrained
    /// decoding matches a grammar against these bytes.
    /// </summary>
    /// <param name="id">A token id.</param>
    /// <returns>The bytes, or null when the token is not plain vocabulary text.</returns>
    public byte[]? TextBytes(int id)
    {
        if (backend is not null)
        {
            return backend.TextBytes(id);
        }

        if ((uint)id >= (uint)pieces.Count || addedById.ContainsKey(id))
        {
            return null;
        }

        return model.Types[id] switch
        {
            SentencePieceModel.PieceType.Normal => System.Text.Encoding.UTF8.GetBytes(pieces[id].Replace(SpaceSymbol, ' ')),
            SentencePieceModel.PieceType.Byte when ByteOfPiece(pieces[id]) is int b and >= 0 => [(byte)b],
            _ => null,
        };
    }

    /// <summary>
    /// Encodes text like HF <c>tokenizer(text)["input_ids"]</c>: added and special tokens written in the text
    /// are matched first (longest match), the rest goes through SentencePiece.
    /// </summary>
    /// <param name="text">The text.</param>
    /// <param name="addSpecialTokens">Add BOS / EOS as <c>add_bos_token</c> / <c>add_eos_token</c> say.</param>
    /// <returns>The token ids.</returns>
    public IReadOnlyList<int> Encode(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (backend is not null)
        {
            return backend.Encode(text, addSpecialTokens);
        }

        var ids = new List<int>();
        if (addSpecialTokens && AddBosToken && BosTokenId is int bos)
        {
            ids.Add(bos);
        }

        Tokenize(text, ids);
        if (addSpecialTokens && AddEosToken && EosTokenId is int eos)
        {
            ids.Add(eos);
        }

        return ids;
    }

    void Tokenize(string text, List<int> ids)
    {
        if (Legacy || text.Length == 0)
        {
            // legacy=true: every text segment is encoded on its own, each with SentencePiece's dummy prefix.
            foreach (AddedTokenSplitter.Segment segment in splitter.Split(text))
            {
                if (segment.Token is { } token)
                {
                    ids.Add(token.Id);
                }
                else
                {
                    EncodePiece(segment.Text, model.AddDummyPrefix, ids);
                }
            }

            return;
        }

        // legacy=false: one "▁" for the whole text (a literal "▁" counts as a space), none after added tokens.
        string prepared = text.Replace(SpaceSymbol, ' ');
        if (AddPrefixSpace)
        {
            prepared = SpaceSymbol + prepared;
        }

        int first = ids.Count;
        List<AddedTokenSplitter.Segment> segments = splitter.Split(prepared);
        foreach (AddedTokenSplitter.Segment segment in segments)
        {
            if (segment.Token is { } token)
            {
                ids.Add(token.Id);
            }
            else
            {
                EncodePiece(segment.Text, dummyPrefix: false, ids);
            }
        }

        // The prefix "▁" alone before a special token is dropped ("<image>\n" -> [<image>, \n]).
        if (ids.Count - first > 1 && ids[first] == spaceSymbolId
            && segments.Count > 1 && segments[0].Token is null && segments[0].Text.Length == 1
            && segments[1].Token is { } next && specialTokens.Contains(next.Content))
        {
            ids.RemoveAt(first);
        }
    }

    void EncodePiece(string segment, bool dummyPrefix, List<int> ids)
    {
        // SentencePiece's identity normalization: escape spaces, and the dummy prefix only where HF keeps it.
        string normalized = (dummyPrefix ? SpaceSymbol.ToString() : string.Empty) + segment.Replace(' ', SpaceSymbol);
        bpe.Encode(normalized, ids);
    }

    /// <summary>
    /// Decodes ids exactly like HF <c>tokenizer.decode(ids, skip_special_tokens)</c> (with
    /// <c>clean_up_tokenization_spaces=False</c>), including its spacing around special and added tokens.
    /// </summary>
    /// <param name="ids">Token ids.</param>
    /// <param name="skipSpecialTokens">Drop the special tokens (see <see cref="IsSpecial"/>).</param>
    /// <returns>The text.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside the vocabulary.</exception>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        IDecodeState state = NewDecodeState(skipSpecialTokens);
        foreach (int id in ids)
        {
            state.Push(id);
        }

        state.Finish();
        return state.TakeOutput();
    }

    /// <summary>
    /// Creates an incremental detokenizer for generated ids whose chunks concatenate to
    /// <see cref="Decode"/> of all pushed ids (see <see cref="StreamingDetokenizer"/>).
    /// </summary>
    /// <param name="skipSpecialTokens">Same meaning as in <see cref="Decode"/>.</param>
    /// <returns>A new detokenizer; not thread-safe.</returns>
    public StreamingDetokenizer CreateStreamingDecoder(bool skipSpecialTokens = false) =>
        new(NewDecodeState(skipSpecialTokens));

    IDecodeState NewDecodeState(bool skipSpecialTokens) =>
        backend?.CreateDecodeState(skipSpecialTokens) ?? new DecodeState(this, skipSpecialTokens);

    /// <summary>SentencePiece type of a piece id.</summary>
    internal SentencePieceModel.PieceType PieceType(int id) => model.Types[id];

    internal int UnkPieceId => model.UnkId;

    /// <summary>legacy=true keeps SentencePiece's add_dummy_prefix, whose decoder then drops a leading space.</summary>
    internal bool DecoderStripsLeadingSpace => Legacy && model.AddDummyPrefix;

    /// <summary>Id of a piece string, or -1 (SentencePiece's PieceToId without the unk fallback).</summary>
    internal int PieceId(string piece) => pieceToId.GetValueOrDefault(piece, -1);

    /// <summary>The byte a <c>&lt;0xNN&gt;</c> byte-fallback piece stands for, or -1.</summary>
    internal static int ByteOfPiece(string piece)
    {
        Match m = BytePiece().Match(piece);
        return m.Success ? Convert.ToInt32(m.Groups[1].Value, 16) : -1;
    }

    [GeneratedRegex("^<0x([0-9A-Fa-f]{2})>$", RegexOptions.CultureInvariant)]
    private static partial Regex BytePiece();
}
