namespace LlavaModal.Tokenizers;

/// <summary>
/// SentencePiece's UTF-8 reading of byte-fallback pieces. Unlike .NET's decoder (one U+FFFD per maximal
/// invalid subsequence) SentencePiece rejects a bad sequence one byte at a time, so "E2 82" at the end of a
/// run gives two U+FFFD; matching HF's decode needs this exact rule.
/// </summary>
static class Utf8Sequence
{
    public const int Valid = 0;
    public const int Invalid = 1;
    public const int NeedMore = 2;

    /// <summary>
    /// Reads one character at <paramref name="offset"/>. Returns <see cref="Valid"/> (with the code point and
    /// its byte length), <see cref="Invalid"/> (length 1), or, unless <paramref name="final"/>,
    /// <see cref="NeedMore"/> when the bytes so far are a proper prefix of a possibly valid sequence.
    /// </summary>
    public static int Decode(List<byte> bytes, int offset, bool final, out int codePoint, out int length)
    {
        codePoint = 0;
        length = 1;
        byte lead = bytes[offset];
        int needed = lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : (lead & 0xF8) == 0xF0 ? 4 : 0;
        if (needed == 0)
        {
            return Invalid;
        }

        if (needed == 1)
        {
            codePoint = lead;
            return Valid;
        }

        int available = bytes.Count - offset;
        for (int i = 1; i < Math.Min(needed, available); i++)
        {
            if ((bytes[offset + i] & 0xC0) != 0x80)
            {
                return Invalid;
            }
        }

        if (available < needed)
        {
            return final ? Invalid : NeedMore;
        }

        int cp = lead & (0x7F >> needed);
        for (int i = 1; i < needed; i++)
        {
            cp = (cp << 6) | (bytes[offset + i] & 0x3F);
        }

        int minimum = needed switch { 2 => 0x80, 3 => 0x800, _ => 0x10000 };
        bool inRange = cp >= minimum && (cp < 0xD800 || (cp >= 0xE000 && cp <= 0x10FFFF));
        if (!inRange)
        {
            return Invalid;
        }

        codePoint = cp;
        length = needed;
        return Valid;
    }
}
