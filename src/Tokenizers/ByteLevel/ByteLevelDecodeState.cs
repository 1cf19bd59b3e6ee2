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
sealed class ByteLevelDecodeState : IDecodeState
{
    const int CleanUpHoldBack = 32;

    readonly ByteLevelBpeTokenizer tokenizer;
    readonly bool skipSpecialTokens;
    readonly System.Text.Decoder utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    readonly StringBuilder output = new();
    readonly StringBuilder raw = new(); // decoded text, only kept for the clean-up
    int emitted;                          // characters of the cleaned text already output
    char[] chars = new char[64];

    public ByteLevelDecodeState(ByteLevelBpeTokenizer tokenizer, bool skipSpecialTokens)
    {
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
    }

    public void Push(int id)
    {
        byte[] bytes = tokenizer.TokenBytes(id); // validates the id even when it is skipped below
        if (skipSpecialTokens && tokenizer.IsSpecial(id))
        {
            return;
        }

        Append(bytes, flush: false);
    }

    public void Finish()
    {
        Append([], flush: true);
        if (tokenizer.CleanUpTokenizationSpaces)
        {
            string cleaned = CleanUp(raw.ToString());
            output.Append(cleaned, emitted, cleaned.Length - emitted);
            emitted = cleaned.Length;
        }
    }

    public string TakeOutput()
    {
        string text = output.ToString();
        output.Clear();
        return text;
    }

    void Append(byte[] bytes, bool flush)
    {
        int needed = utf8.GetCharCount(bytes, 0, bytes.Length, flush);
        if (needed > chars.Length)
        {
            chars = new char[Math.Max(needed, chars.Length * 2)];
        }

        int count = utf8.GetChars(bytes, 0, bytes.Length, chars, 0, flush);
        if (!tokenizer.CleanUpTokenizationSpaces)
        {
            output.Append(chars, 0, count);
            return;
        }

        if (count == 0)
        {
            return;
        }

        raw.Append(chars, 0, count);
        string cleaned = CleanUp(raw.ToString());
        int safe = cleaned.Length - CleanUpHoldBack;
        if (safe > 0 && char.IsHighSurrogate(cleaned[safe - 1]))
        {
            safe--;
        }

        if (safe > emitted)
        {
            output.Append(cleaned, emitted, safe - emitted);
            emitted = safe;
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
