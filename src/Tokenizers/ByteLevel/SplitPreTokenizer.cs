using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace LlavaModal.Tokenizers.ByteLevel;

/// <summary>
/// HF's <c>Split</c> pre-tokenizer with <c>behavior: "Isolated"</c> (and the regex step of <c>ByteLevel</c> with
/// <c>use_regex: true</c>), as a Microsoft.ML.Tokenizers <see cref="PreTokenizer"/>: every regex match is a piece
/// and so is every gap between matches (the library's <c>RegexPreTokenizer</c> drops gaps). Several patterns
/// apply in turn, each splitting the pieces of the previous one.
/// </summary>
/// <remarks>
/// HF runs the pattern over code points (Oniguruma); .NET regexes see UTF-16 units, where a character outside the
/// BMP is two surrogates that match neither <c>\p{L}</c> nor <c>\p{N}</c>. The text is therefore matched through a
/// proxy string in which each such character is one BMP character of the same Unicode category, and the offsets
/// are mapped back. Patterns that name specific non-BMP characters are not supported by this proxy.
/// </remarks>
sealed class SplitPreTokenizer : PreTokenizer
{
    readonly Regex[] patterns;

    public SplitPreTokenizer(IReadOnlyList<Regex> patterns) => this.patterns = [.. patterns];

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) =>
        Split(text ?? string.Empty);

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) =>
        Split(text.ToString());

    /// <summary>The pieces of <paramref name="text"/> as (offset, length), in order, covering all of it.</summary>
    public List<(int Offset, int Length)> Split(string text)
    {
        var pieces = new List<(int Offset, int Length)>();
        if (text.Length == 0)
        {
            return pieces;
        }

        pieces.Add((0, text.Length));
        foreach (Regex pattern in patterns)
        {
            var next = new List<(int Offset, int Length)>();
            foreach ((int offset, int length) in pieces)
            {
                SplitOne(pattern, text.Substring(offset, length), offset, next);
            }

            pieces = next;
        }

        return pieces;
    }

    static void SplitOne(Regex pattern, string piece, int baseOffset, List<(int Offset, int Length)> output)
    {
        string proxy = Proxy(piece, out int[]? map);
        int previousEnd = 0;
        for (Match m = pattern.Match(proxy); m.Success; m = m.NextMatch())
        {
            if (m.Length == 0)
            {
                continue; // HF ignores empty matches
            }

            int start = map is null ? m.Index : map[m.Index];
            int end = map is null ? m.Index + m.Length : map[m.Index + m.Length];
            if (start > previousEnd)
            {
                output.Add((baseOffset + previousEnd, start - previousEnd));
            }

            output.Add((baseOffset + start, end - start));
            previousEnd = end;
        }

        if (previousEnd < piece.Length)
        {
            output.Add((baseOffset + previousEnd, piece.Length - previousEnd));
        }
    }

    /// <summary>
    /// <paramref name="text"/> with each surrogate pair replaced by one BMP character of the same category;
    /// <paramref name="map"/> gives, for each proxy index (and the end), the index in the original text.
    /// </summary>
    internal static string Proxy(string text, out int[]? map)
    {
        int firstSurrogate = text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF');
        if (firstSurrogate < 0)
        {
            map = null;
            return text;
        }

        var proxy = new StringBuilder(text.Length);
        var indices = new List<int>(text.Length + 1);
        for (int i = 0; i < text.Length; i++)
        {
            indices.Add(i);
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                proxy.Append(Representative(CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text[i], text[i + 1]))));
                i++;
            }
            else
            {
                proxy.Append(text[i]);
            }
        }

        indices.Add(text.Length);
        map = [.. indices];
        return proxy.ToString();
    }

    /// <summary>A BMP character of the given category, chosen to appear in no pattern literally (no 's', 't', "'" ...).</summary>
    static char Representative(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter => 'A',
        UnicodeCategory.LowercaseLetter => 'a',
        UnicodeCategory.TitlecaseLetter => '\u01C5',
        UnicodeCategory.ModifierLetter => '\u02B0',
        UnicodeCategory.OtherLetter => '\u4E00',
        UnicodeCategory.NonSpacingMark => '\u0300',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u20DD',
        UnicodeCategory.DecimalDigitNumber => '0',
        UnicodeCategory.LetterNumber => '\u2160',
        UnicodeCategory.OtherNumber => '\u00B2',
        UnicodeCategory.ConnectorPunctuation => '\u203F',
        UnicodeCategory.DashPunctuation => '\u2010',
        UnicodeCategory.OpenPunctuation => '\u2045',
        UnicodeCategory.ClosePunctuation => '\u2046',
        UnicodeCategory.InitialQuotePunctuation => '\u00AB',
        UnicodeCategory.FinalQuotePunctuation => '\u00BB',
        UnicodeCategory.OtherPunctuation => '\u00A1',
        UnicodeCategory.MathSymbol => '\u00AC',
        UnicodeCategory.CurrencySymbol => '\u00A2',
        UnicodeCategory.ModifierSymbol => '\u00B4',
        UnicodeCategory.OtherSymbol => '\u00A9',
        UnicodeCategory.Format => '\u00AD',
        UnicodeCategory.PrivateUse => '\uE000',
        _ => '\u0378', // unassigned
    };
}
