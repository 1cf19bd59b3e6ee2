using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace LlavaModal.Tokenizers.Chat.Jinja;

/// <summary>The kinds of token the lexer yields.</summary>
enum TokenKind
{
    /// <summary>Template text outside tags, already whitespace-controlled.</summary>
    Text,
    VariableBegin,
    VariableEnd,
    BlockBegin,
    BlockEnd,
    Name,
    String,
    Integer,
    Float,
    Operator,
    End,
}

/// <summary>One token; <paramref name="Position"/> is the offset in the template source, for error messages.</summary>
readonly record struct Token(TokenKind Kind, string Value, int Position)
{
    public bool Is(TokenKind kind, string value) => Kind == kind && Value == value;
}

/// <summary>
/// Splits a Jinja template into text and tag tokens with Jinja's whitespace rules as Hugging Face configures them for
/// chat templates: <c>trim_blocks</c> (the first newline after a block or comment tag goes), <c>lstrip_blocks</c>
/// (spaces and tabs from the start of a line up to a block or comment tag go), <c>-</c> / <c>+</c> modifiers on tags,
/// and no trailing newline (<c>keep_trailing_newline=False</c>). <c>{% raw %}</c> blocks become text.
/// </summary>
sealed partial class JinjaLexer
{
    static readonly string[] Operators = ["**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "|", ".", ",", ":", "(", ")", "[", "]", "{", "}", "=", "<", ">"];

    readonly string source;
    readonly int length;
    readonly List<Token> tokens = [];
    int pos;

    // Whitespace control owed to the next text token by the tag just closed.
    bool stripNextAll;
    bool stripNextNewline;

    JinjaLexer(string source)
    {
        this.source = source;
        length = source.EndsWith('\n') ? (source.EndsWith("\r\n", StringComparison.Ordinal) ? source.Length - 2 : source.Length - 1) : source.Length;
    }

    public static List<Token> Tokenize(string source)
    {
        var lexer = new JinjaLexer(source);
        lexer.Run();
        return lexer.tokens;
    }

    void Run()
    {
        while (pos < length)
        {
            int tag = FindTag(pos);
            int textEnd = tag < 0 ? length : tag;
            string modifier = tag >= 0 && tag + 2 < length ? source[tag + 2].ToString() : string.Empty;
            bool isBlockOrComment = tag >= 0 && source[tag + 1] != '{';
            AddText(pos, textEnd, stripAllAtEnd: modifier == "-", lstripAtEnd: isBlockOrComment && modifier != "+");
            if (tag < 0)
            {
                break;
            }

            pos = tag;
            switch (source[tag + 1])
            {
                case '#':
                    ReadComment();
                    break;
                case '{':
                    ReadTag(TokenKind.VariableBegin, TokenKind.VariableEnd, "}}");
                    break;
                default:
                    if (!TryReadRaw())
                    {
                        ReadTag(TokenKind.BlockBegin, TokenKind.BlockEnd, "%}");
                    }

                    break;
            }
        }

        tokens.Add(new Token(TokenKind.End, string.Empty, length));
    }

    int FindTag(int from)
    {
        for (int i = from; i + 1 < length; i++)
        {
            if (source[i] == '{' && source[i + 1] is '{' or '%' or '#')
            {
                return i;
            }
        }

        return -1;
    }

    void AddText(int start, int end, bool stripAllAtEnd, bool lstripAtEnd)
    {
        string text = source[start..end];
        if (stripNextAll)
        {
            text = text.TrimStart();
        }
        else if (stripNextNewline)
        {
            text = text.StartsWith("\r\n", StringComparison.Ordinal) ? text[2..] : text.StartsWith('\n') ? text[1..] : text;
        }

        stripNextAll = stripNextNewline = false;
        if (stripAllAtEnd)
        {
            text = text.TrimEnd();
        }
        else if (lstripAtEnd)
        {
            // Only spaces and tabs between the start of the line (in the source) and the tag.
            int i = end;
            while (i > start && source[i - 1] is ' ' or '\t')
            {
                i--;
            }

            if ((i == 0 || source[i - 1] == '\n') && end - i <= text.Length)
            {
                text = text[..^(end - i)];
            }
        }

        if (text.Length > 0)
        {
            // Jinja writes every line break of template text as its newline_sequence, "\n".
            tokens.Add(new Token(TokenKind.Text, text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n'), start));
        }
    }

    void ReadComment()
    {
        int close = source.IndexOf("#}", pos + 2, StringComparison.Ordinal);
        if (close < 0 || close + 2 > length)
        {
            throw new JinjaException(pos, "the comment is not closed with '#}'");
        }

        char before = source[close - 1];
        pos = close + 2;
        stripNextAll = before == '-';
        stripNextNewline = !stripNextAll && before != '+';
    }

    void ReadTag(TokenKind begin, TokenKind end, string close)
    {
        int tagStart = pos;
        tokens.Add(new Token(begin, source.Substring(pos, 2), pos));
        pos += 2;
        if (pos < length && source[pos] is '-' or '+')
        {
            pos++;
        }

        int depth = 0;
        while (true)
        {
            SkipSpaces();
            if (pos >= length)
            {
                throw new JinjaException(tagStart, $"the tag is not closed with '{close}'");
            }

            if (depth == 0 && source[pos] is '-' or '+' && string.CompareOrdinal(source, pos + 1, close, 0, 2) == 0)
            {
                bool minus = source[pos] == '-';
                tokens.Add(new Token(end, close, pos));
                pos += 3;
                stripNextAll = minus;
                stripNextNewline = !minus && source[pos - 3] != '+' && end == TokenKind.BlockEnd;
                return;
            }

            if (depth == 0 && string.CompareOrdinal(source, pos, close, 0, 2) == 0)
            {
                tokens.Add(new Token(end, close, pos));
                pos += 2;
                stripNextNewline = end == TokenKind.BlockEnd;
                return;
            }

            char c = source[pos];
            if (c is '\'' or '"')
            {
                ReadString(c);
            }
            else if (char.IsAsciiDigit(c))
            {
                ReadNumber();
            }
            else if (char.IsAsciiLetter(c) || c == '_')
            {
                int start = pos;
                while (pos < length && (char.IsAsciiLetterOrDigit(source[pos]) || source[pos] == '_'))
                {
                    pos++;
                }

                tokens.Add(new Token(TokenKind.Name, source[start..pos], start));
            }
            else
            {
                string? op = Operators.FirstOrDefault(o => string.CompareOrdinal(source, pos, o, 0, o.Length) == 0);
                if (op is null)
                {
                    throw new JinjaException(pos, $"unexpected character '{c}'");
                }

                depth += op is "(" or "[" or "{" ? 1 : op is ")" or "]" or "}" ? -1 : 0;
                tokens.Add(new Token(TokenKind.Operator, op, pos));
                pos += op.Length;
            }
        }
    }

    void SkipSpaces()
    {
        while (pos < length && char.IsWhiteSpace(source[pos]))
        {
            pos++;
        }
    }

    void ReadNumber()
    {
        int start = pos;
        while (pos < length && (char.IsAsciiDigit(source[pos]) || source[pos] == '_'))
        {
            pos++;
        }

        bool isFloat = false;
        if (pos + 1 < length && source[pos] == '.' && char.IsAsciiDigit(source[pos + 1]))
        {
            isFloat = true;
            pos++;
            while (pos < length && (char.IsAsciiDigit(source[pos]) || source[pos] == '_'))
            {
                pos++;
            }
        }

        if (pos < length && source[pos] is 'e' or 'E')
        {
            int save = pos++;
            if (pos < length && source[pos] is '+' or '-')
            {
                pos++;
            }

            if (pos < length && char.IsAsciiDigit(source[pos]))
            {
                isFloat = true;
                while (pos < length && char.IsAsciiDigit(source[pos]))
                {
                    pos++;
                }
            }
            else
            {
                pos = save;
            }
        }

        string text = source[start..pos].Replace("_", string.Empty, StringComparison.Ordinal);
        tokens.Add(new Token(isFloat ? TokenKind.Float : TokenKind.Integer, text, start));
    }

    void ReadString(char quote)
    {
        int start = pos++;
        var sb = new StringBuilder();
        while (true)
        {
            if (pos >= length)
            {
                throw new JinjaException(start, "the string literal is not closed");
            }

            char c = source[pos++];
            if (c == quote)
            {
                break;
            }

            if (c != '\\' || pos >= length)
            {
                sb.Append(c);
                continue;
            }

            // Python's unicode-escape rules, which Jinja applies to string literals; unknown escapes stay as written.
            char e = source[pos++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case '\n': break;
                case 'x': AppendCodePoint(sb, 2, start); break;
                case 'u': AppendCodePoint(sb, 4, start); break;
                case 'U': AppendCodePoint(sb, 8, start); break;
                case >= '0' and <= '7':
                {
                    int value = e - '0';
                    for (int k = 0; k < 2 && pos < length && source[pos] is >= '0' and <= '7'; k++)
                    {
                        value = (value * 8) + (source[pos++] - '0');
                    }

                    sb.Append((char)value);
                    break;
                }

                default:
                    sb.Append('\\').Append(e);
                    break;
            }
        }

        tokens.Add(new Token(TokenKind.String, sb.ToString(), start));
    }

    void AppendCodePoint(StringBuilder sb, int digits, int start)
    {
        if (pos + digits > length || !int.TryParse(source.AsSpan(pos, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int value)
            || value > 0x10FFFF)
        {
            throw new JinjaException(start, "the string literal has a malformed \\x, \\u or \\U escape");
        }

        sb.Append(char.ConvertFromUtf32(value));
        pos += digits;
    }

    /// <summary><c>{% raw %}...{% endraw %}</c> is text as written (with the tags' own whitespace control).</summary>
    bool TryReadRaw()
    {
        Match open = RawOpen().Match(source, pos);
        if (!open.Success || open.Index != pos)
        {
            return false;
        }

        Match close = RawClose().Match(source, open.Index + open.Length);
        if (!close.Success)
        {
            throw new JinjaException(pos, "{% raw %} is not closed with {% endraw %}");
        }

        string text = source[(open.Index + open.Length)..close.Index];
        if (open.Groups[1].Value == "-")
        {
            text = text.TrimStart();
        }

        if (close.Groups[1].Value == "-")
        {
            text = text.TrimEnd();
        }

        if (text.Length > 0)
        {
            tokens.Add(new Token(TokenKind.Text, text, open.Index + open.Length));
        }

        pos = close.Index + close.Length;
        stripNextAll = close.Groups[2].Value == "-";
        stripNextNewline = !stripNextAll && close.Groups[2].Value != "+";
        return true;
    }

    [GeneratedRegex(@"\{%[+-]?\s*raw\s*([+-]?)%\}")]
    private static partial Regex RawOpen();

    [GeneratedRegex(@"\{%([+-]?)\s*endraw\s*([+-]?)%\}")]
    private static partial Regex RawClose();
}
