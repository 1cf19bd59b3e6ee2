using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace LlavaModal.Tokenizers.Chat.Jinja;

/// <summary>The kinds of token the lexer yields.</summary>
internal enum TokenKind
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
internal readonly record struct Token(TokenKind Kind, string Value, int Position)
{
    public bool Is(TokenKind kind, string value) => Kind == kind && Value == value;
}

/// <summary>
/// Splits a Jinja template into text and tag tokens with Jinja's whitespace rules as Hugging Face configures them for
/// chat templates: <c>trim_blocks</c> (the first newline after a block or comment tag goes), <c>lstrip_blocks</c>
/// (spaces and tabs from the start of a line up to a block or comment tag go), <c>-</c> / <c>+</c> modifiers on tags,
/// and no trailing newline (<c>keep_trailing_newline=False</c>). <c>{% raw %}</c> blocks become text.
/// </summary>
internal sealed partial class JinjaLexer
{
    private static readonly string[] Operators = ["**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "|", ".", ",", ":", "(", ")", "[", "]", "{", "}", "=", "<", ">"];

    private readonly string _source;
    private readonly int _length;
    private readonly List<Token> _tokens = [];
    private int _pos;

    // Whitespace control owed to the next text token by the tag just closed.
    private bool _stripNextAll;
    private bool _stripNextNewline;

    private JinjaLexer(string source)
    {
        _source = source;
        _length = source.EndsWith('\n') ? (source.EndsWith("\r\n", StringComparison.Ordinal) ? source.Length - 2 : source.Length - 1) : source.Length;
    }

    public static List<Token> Tokenize(string source)
    {
        var lexer = new JinjaLexer(source);
        lexer.Run();
        return lexer._tokens;
    }

    private void Run()
    {
        while (_pos < _length)
        {
            int tag = FindTag(_pos);
            int textEnd = tag < 0 ? _length : tag;
            string modifier = tag >= 0 && tag + 2 < _length ? _source[tag + 2].ToString() : string.Empty;
            bool isBlockOrComment = tag >= 0 && _source[tag + 1] != '{';
            AddText(_pos, textEnd, stripAllAtEnd: modifier == "-", lstripAtEnd: isBlockOrComment && modifier != "+");
            if (tag < 0)
            {
                break;
            }

            _pos = tag;
            switch (_source[tag + 1])
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

        _tokens.Add(new Token(TokenKind.End, string.Empty, _length));
    }

    private int FindTag(int from)
    {
        for (int i = from; i + 1 < _length; i++)
        {
            if (_source[i] == '{' && _source[i + 1] is '{' or '%' or '#')
            {
                return i;
            }
        }

        return -1;
    }

    private void AddText(int start, int end, bool stripAllAtEnd, bool lstripAtEnd)
    {
        string text = _source[start..end];
        if (_stripNextAll)
        {
            text = text.TrimStart();
        }
        else if (_stripNextNewline)
        {
            text = text.StartsWith("\r\n", StringComparison.Ordinal) ? text[2..] : text.StartsWith('\n') ? text[1..] : text;
        }

        _stripNextAll = _stripNextNewline = false;
        if (stripAllAtEnd)
        {
            text = text.TrimEnd();
        }
        else if (lstripAtEnd)
        {
            // Only spaces and tabs between the start of the line (in the source) and the tag.
            int i = end;
            while (i > start && _source[i - 1] is ' ' or '\t')
            {
                i--;
            }

            if ((i == 0 || _source[i - 1] == '\n') && end - i <= text.Length)
            {
                text = text[..^(end - i)];
            }
        }

        if (text.Length > 0)
        {
            // Jinja writes every line break of template text as its newline_sequence, "\n".
            _tokens.Add(new Token(TokenKind.Text, text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n'), start));
        }
    }

    private void ReadComment()
    {
        int close = _source.IndexOf("#}", _pos + 2, StringComparison.Ordinal);
        if (close < 0 || close + 2 > _length)
        {
            throw new JinjaException(_pos, "the comment is not closed with '#}'");
        }

        char before = _source[close - 1];
        _pos = close + 2;
        _stripNextAll = before == '-';
        _stripNextNewline = !_stripNextAll && before != '+';
    }

    private void ReadTag(TokenKind begin, TokenKind end, string close)
    {
        int tagStart = _pos;
        _tokens.Add(new Token(begin, _source.Substring(_pos, 2), _pos));
        _pos += 2;
        if (_pos < _length && _source[_pos] is '-' or '+')
        {
            _pos++;
        }

        int depth = 0;
        while (true)
        {
            SkipSpaces();
            if (_pos >= _length)
            {
                throw new JinjaException(tagStart, $"the tag is not closed with '{close}'");
            }

            if (depth == 0 && _source[_pos] is '-' or '+' && string.CompareOrdinal(_source, _pos + 1, close, 0, 2) == 0)
            {
                bool minus = _source[_pos] == '-';
                _tokens.Add(new Token(end, close, _pos));
                _pos += 3;
                _stripNextAll = minus;
                _stripNextNewline = !minus && _source[_pos - 3] != '+' && end == TokenKind.BlockEnd;
                return;
            }

            if (depth == 0 && string.CompareOrdinal(_source, _pos, close, 0, 2) == 0)
            {
                _tokens.Add(new Token(end, close, _pos));
                _pos += 2;
                _stripNextNewline = end == TokenKind.BlockEnd;
                return;
            }

            char c = _source[_pos];
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
                int start = _pos;
                while (_pos < _length && (char.IsAsciiLetterOrDigit(_source[_pos]) || _source[_pos] == '_'))
                {
                    _pos++;
                }

                _tokens.Add(new Token(TokenKind.Name, _source[start.._pos], start));
            }
            else
            {
                string? op = Operators.FirstOrDefault(o => string.CompareOrdinal(_source, _pos, o, 0, o.Length) == 0);
                if (op is null)
                {
                    throw new JinjaException(_pos, $"unexpected character '{c}'");
                }

                depth += op is "(" or "[" or "{" ? 1 : op is ")" or "]" or "}" ? -1 : 0;
                _tokens.Add(new Token(TokenKind.Operator, op, _pos));
                _pos += op.Length;
            }
        }
    }

    private void SkipSpaces()
    {
        while (_pos < _length && char.IsWhiteSpace(_source[_pos]))
        {
            _pos++;
        }
    }

    private void ReadNumber()
    {
        int start = _pos;
        while (_pos < _length && (char.IsAsciiDigit(_source[_pos]) || _source[_pos] == '_'))
        {
            _pos++;
        }

        bool isFloat = false;
        if (_pos + 1 < _length && _source[_pos] == '.' && char.IsAsciiDigit(_source[_pos + 1]))
        {
            isFloat = true;
            _pos++;
            while (_pos < _length && (char.IsAsciiDigit(_source[_pos]) || _source[_pos] == '_'))
            {
                _pos++;
            }
        }

        if (_pos < _length && _source[_pos] is 'e' or 'E')
        {
            int save = _pos++;
            if (_pos < _length && _source[_pos] is '+' or '-')
            {
                _pos++;
            }

            if (_pos < _length && char.IsAsciiDigit(_source[_pos]))
            {
                isFloat = true;
                while (_pos < _length && char.IsAsciiDigit(_source[_pos]))
                {
                    _pos++;
                }
            }
            else
            {
                _pos = save;
            }
        }

        string text = _source[start.._pos].Replace("_", string.Empty, StringComparison.Ordinal);
        _tokens.Add(new Token(isFloat ? TokenKind.Float : TokenKind.Integer, text, start));
    }

    private void ReadString(char quote)
    {
        int start = _pos++;
        var sb = new StringBuilder();
        while (true)
        {
            if (_pos >= _length)
            {
                throw new JinjaException(start, "the string literal is not closed");
            }

            char c = _source[_pos++];
            if (c == quote)
            {
                break;
            }

            if (c != '\\' || _pos >= _length)
            {
                sb.Append(c);
                continue;
            }

            // Python's unicode-escape rules, which Jinja applies to string literals; unknown escapes stay as written.
            char e = _source[_pos++];
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
                    for (int k = 0; k < 2 && _pos < _length && _source[_pos] is >= '0' and <= '7'; k++)
                    {
                        value = (value * 8) + (_source[_pos++] - '0');
                    }

                    sb.Append((char)value);
                    break;
                }

                default:
                    sb.Append('\\').Append(e);
                    break;
            }
        }

        _tokens.Add(new Token(TokenKind.String, sb.ToString(), start));
    }

    private void AppendCodePoint(StringBuilder sb, int digits, int start)
    {
        if (_pos + digits > _length || !int.TryParse(_source.AsSpan(_pos, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int value)
            || value > 0x10FFFF)
        {
            throw new JinjaException(start, "the string literal has a malformed \\x, \\u or \\U escape");
        }

        sb.Append(char.ConvertFromUtf32(value));
        _pos += digits;
    }

    /// <summary><c>{% raw %}...{% endraw %}</c> is text as written (with the tags' own whitespace control).</summary>
    private bool TryReadRaw()
    {
        Match open = RawOpen().Match(_source, _pos);
        if (!open.Success || open.Index != _pos)
        {
            return false;
        }

        Match close = RawClose().Match(_source, open.Index + open.Length);
        if (!close.Success)
        {
            throw new JinjaException(_pos, "{% raw %} is not closed with {% endraw %}");
        }

        string text = _source[(open.Index + open.Length)..close.Index];
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
            _tokens.Add(new Token(TokenKind.Text, text, open.Index + open.Length));
        }

        _pos = close.Index + close.Length;
        _stripNextAll = close.Groups[2].Value == "-";
        _stripNextNewline = !_stripNextAll && close.Groups[2].Value != "+";
        return true;
    }

    [GeneratedRegex(@"\{%[+-]?\s*raw\s*([+-]?)%\}")]
    private static partial Regex RawOpen();

    [GeneratedRegex(@"\{%([+-]?)\s*endraw\s*([+-]?)%\}")]
    private static partial Regex RawClose();
}
