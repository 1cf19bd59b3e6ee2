using System.Text;

namespace LlavaModal.Tokenizers.ByteLevel;

/// <summary>
/// Decoding for <see cref="ByteLevelBpeTokenizer"/>, as HF's fast decode: the tokens (added tokens included, special
/// ones dropped when asked) are turned into bytes by the <c>ByteLevel</c> decoder rule and the whole byte string is
/// read as UTF-8 with U+FFFD for invalid sequences (Rust's <c>from_utf8_lossy</c>; .NET's UTF-8 decoder replaces
/// the same maximal invalid subsequences). A stateful UTF-8 decoder holds an incomplete character until its last
/// byte arrives, so streamed chunks never split a character and concatenate to the batch result.
/// </summary>
/// <remarks>
/// With <c>clean_up_tokenization_spaces=true</c> (LLaMA-3) transformers rewrites the finished text (" ." → "." and
/// the other rules of <c>clean_up_tokenization</c>). Each rule looks at most 4 characters ahead and there are 10 rules
/// applied in turn, so appending text can only change the last 30 characters of the cleaned text: the streaming
/// decoder holds those back until <see cref="Finish"/>.
/// </remarks>
internal sealed class ByteLevelDecodeState : IDecodeState
{
    private const int CleanUpHoldBack = 32;

    private readonly ByteLevelBpeTokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private readonly System.Text.Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private readonly StringBuilder _output = new();
    private readonly StringBuilder _raw = new(); // decoded text, only kept for the clean-up
    private int _emitted;                          // characters of the cleaned text already output
    private char[] _chars = new char[64];

    public ByteLevelDecodeState(ByteLevelBpeTokenizer tokenizer, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
    }

    public void Push(int id)
    {
        byte[] bytes = _tokenizer.TokenBytes(id); // validates the id even when it is skipped below
        if (_skipSpecialTokens && _tokenizer.IsSpecial(id))
        {
            return;
        }

        Append(bytes, flush: false);
    }

    public void Finish()
    {
        Append([], flush: true);
        if (_tokenizer.CleanUpTokenizationSpaces)
        {
            string cleaned = CleanUp(_raw.ToString());
            _output.Append(cleaned, _emitted, cleaned.Length - _emitted);
            _emitted = cleaned.Length;
        }
    }

    public string TakeOutput()
    {
        string text = _output.ToString();
        _output.Clear();
        return text;
    }

    private void Append(byte[] bytes, bool flush)
    {
        int needed = _utf8.GetCharCount(bytes, 0, bytes.Length, flush);
        if (needed > _chars.Length)
        {
            _chars = new char[Math.Max(needed, _chars.Length * 2)];
        }

        int count = _utf8.GetChars(bytes, 0, bytes.Length, _chars, 0, flush);
        if (!_tokenizer.CleanUpTokenizationSpaces)
        {
            _output.Append(_chars, 0, count);
            return;
        }

        if (count == 0)
        {
            return;
        }

        _raw.Append(_chars, 0, count);
        string cleaned = CleanUp(_raw.ToString());
        int safe = cleaned.Length - CleanUpHoldBack;
        if (safe > 0 && char.IsHighSurrogate(cleaned[safe - 1]))
        {
            safe--;
        }

        if (safe > _emitted)
        {
            _output.Append(cleaned, _emitted, safe - _emitted);
            _emitted = safe;
        }
    }

    /// <summary>transformers' <c>clean_up_tokenization</c>, rule for rule and in the same order.</summary>
    internal static string CleanUp(string text) => text
        .Replace(" .", ".", StringComparison.Ordinal)
        .Replace(" ?", "?", StringComparison.Ordinal)
        .Replace(" !", "!", StringComparison.Ordinal)
        .Replace(" ,", ",", StringComparison.Ordinal)
        .Replace(" ' ", "'", StringComparison.Ordinal)
        .Replace(" n't", "n't", StringComparison.Ordinal)
        .Replace(" 'm", "'m", StringComparison.Ordinal)
        .Replace(" 's", "'s", StringComparison.Ordinal)
        .Replace(" 've", "'ve", StringComparison.Ordinal)
        .Replace(" 're", "'re", StringComparison.Ordinal);
}
