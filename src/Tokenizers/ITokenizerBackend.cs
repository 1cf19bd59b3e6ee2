namespace LlavaModal.Tokenizers;

/// <summary>
/// The per-format work behind the <see cref="HfTokenizer"/> facade. The SentencePiece path (<c>tokenizer.model</c>,
/// hand-written for exact parity with HF's slow <c>LlamaTokenizer</c>) lives in <see cref="HfTokenizer"/> itself;
/// other formats implement this interface and the facade forwards to them.
/// </summary>
interface ITokenizerBackend
{
    int VocabSize { get; }

    int? BosTokenId { get; }

    int? EosTokenId { get; }

    int? PadTokenId { get; }

    int? UnkTokenId { get; }

    IReadOnlyDictionary<string, int> AddedTokens { get; }

    int? TokenToId(string token);

    /// <summary>The token string of an id; throws <see cref="ArgumentOutOfRangeException"/> for unknown ids.</summary>
    string IdToToken(int id);

    bool IsSpecial(int id);

    /// <summary>The bytes a vocabulary token adds to decoded text mid-sequence, or null for an added, special or unknown token.</summary>
    byte[]? TextBytes(int id);

    IReadOnlyList<int> Encode(string text, bool addSpecialTokens);

    /// <summary>A fresh decoder; <see cref="HfTokenizer.Decode"/> and the streaming decoder both use it.</summary>
    IDecodeState CreateDecodeState(bool skipSpecialTokens);

    /// <summary>A backend that also knows <paramref name="placeholders"/> (all unknown so far) as special tokens with new ids.</summary>
    ITokenizerBackend WithPlaceholders(IReadOnlyList<string> placeholders);
}

/// <summary>Left-to-right decoding shared by batch and streaming decode, so both agree by construction.</summary>
interface IDecodeState
{
    /// <summary>Adds one id; its text (when complete) becomes available through <see cref="TakeOutput"/>.</summary>
    void Push(int id);

    /// <summary>Ends the sequence; everything held back becomes output.</summary>
    void Finish();

    /// <summary>The text produced since the last call.</summary>
    string TakeOutput();
}
