namespace LlavaModal.Tokenizers.ByteLevel;

/// <summary>
/// The GPT-2 byte-level alphabet used by byte-level BPE (<c>ByteLevel</c> pre-tokenizer / decoder of Hugging Face
/// tokenizers): every byte is written as one printable character. Bytes that are printable Latin-1 characters
/// ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68 bytes, in increasing order, take U+0100, U+0101, ...
/// (so the space 0x20 is 'Ġ' U+0120 and the newline 0x0A is 'Ċ' U+010A).
/// </summary>
static class ByteLevelAlphabet
{
    static readonly char[] ByteToChar = BuildTable();
    static readonly Dictionary<char, byte> CharToByte = BuildReverse();

    /// <summary>The character that stands for <paramref name="value"/>.</summary>
    public static char CharOf(byte value) => ByteToChar[value];

    /// <summary>The byte-level form of a string: its UTF-8 bytes, each written as its alphabet character.</summary>
    public static string Encode(string text)
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(text);
        return string.Create(bytes.Length, bytes, static (span, b) =>
        {
            for (int i = 0; i < b.Length; i++)
            {
                span[i] = ByteToChar[b[i]];
            }
        });
    }

    /// <summary>
    /// The bytes a token stands for, as HF's <c>ByteLevel</c> decoder reads them: each character mapped back to its
    /// byte, or, when any character is outside the alphabet (e.g. an added token with a space), the token's own UTF-8.
    /// </summary>
    public static byte[] TokenBytes(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            if (!CharToByte.TryGetValue(token[i], out bytes[i]))
            {
                return System.Text.Encoding.UTF8.GetBytes(token);
            }
        }

        return bytes;
    }

    static char[] BuildTable()
    {
        var table = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            table[b] = printable ? (char)b : (char)next++;
        }

        return table;
    }

    static Dictionary<char, byte> BuildReverse()
    {
        var reverse = new Dictionary<char, byte>(256);
        for (int b = 0; b < 256; b++)
        {
            reverse[ByteToChar[b]] = (byte)b;
        }

        return reverse;
    }
}
