using System.Text;

namespace LlavaModal.Tokenizers.SentencePiece;

/// <summary>
/// HF's slow decode (<c>_decode</c> + <c>LlamaTokenizer.convert_tokens_to_string</c> + SentencePiece
/// <c>DecodePieces</c>) written as a left-to-right state machine, so that the batch decode and the
/// streaming decoder share one implementation and their outputs agree by construction.
/// </summary>
/// <remarks>
/// HF builds "sub-texts" separated by non-special added tokens (and additional special tokens beyond the
/// SentencePiece vocabulary); the parts are joined with a space, and an intermediate sub-text that
/// decodes to "" is dropped while the last one is kept. Inside a sub-text the leading "▁" of the first
/// token is removed, special tokens are written verbatim, and a space follows a leading special token
/// when the next piece has no "▁". Byte-fallback pieces are grouped into UTF-8 like SentencePiece does
/// (one U+FFFD per invalid byte). Text is emitted as soon as no later id can change it.
/// </remarks>
internal sealed class DecodeState : IDecodeState
{
    private readonly HfTokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private readonly StringBuilder _output = new();
    private readonly List<byte> _pendingBytes = [];

    /// <summary>legacy=true writes a space before a special token but in front of the preceding text, so that text waits here.</summary>
    private readonly StringBuilder _legacyChunk = new();

    private int _joinedParts;      // parts already joined into the output (HF sub_texts)
    private int _subTextTokens;    // tokens of the current sub-text
    private bool _subTextWritten;  // the current sub-text produced text (so it is a joined part)
    private bool _previousWasSpecial;
    private bool _chunkStart = true; // next piece starts a SentencePiece decode call

    public DecodeState(HfTokenizer tokenizer, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
    }

    public void Push(int id)
    {
        if (_skipSpecialTokens && _tokenizer.IsSpecial(id))
        {
            return;
        }

        string token = _tokenizer.IdToToken(id);
        if (_tokenizer.LegacyAddedIds.Contains(id))
        {
            EndSubText();
            WritePart(token);
            return;
        }

        int index = _subTextTokens++;
        if (index == 0 && _tokenizer.AddPrefixSpace && token.Length > 0 && token[0] == HfTokenizer.SpaceSymbol)
        {
            token = token[1..];
        }

        if (_tokenizer.SpecialTokenContents.Contains(token))
        {
            if (_tokenizer.Legacy && !_previousWasSpecial && index != 0)
            {
                WriteSubText(" ");
            }

            EndChunk();
            WriteSubText(token);
            _previousWasSpecial = true;
            return;
        }

        if (_previousWasSpecial && index == 1 && _tokenizer.AddPrefixSpace && !(token.Length > 0 && token[0] == HfTokenizer.SpaceSymbol))
        {
            WriteSubText(" ");
        }

        WritePiece(token);
        _previousWasSpecial = false;
    }

    /// <summary>Ends the sequence: pending bytes become text and a trailing empty sub-text still gets its joining space.</summary>
    public void Finish()
    {
        EndChunk();
        if (_subTextTokens > 0 && !_subTextWritten && _joinedParts > 0)
        {
            _output.Append(' ');
        }

        _subTextTokens = 0;
        _subTextWritten = false;
    }

    public string TakeOutput()
    {
        string text = _output.ToString();
        _output.Clear();
        return text;
    }

    /// <summary>SentencePiece's decoding of one piece (the piece string is looked up again, as SentencePiece does).</summary>
    private void WritePiece(string piece)
    {
        int id = _tokenizer.PieceId(piece);
        SentencePieceModel.PieceType type = id >= 0 ? _tokenizer.PieceType(id) : SentencePieceModel.PieceType.Unknown;
        if (type == SentencePieceModel.PieceType.Byte && HfTokenizer.ByteOfPiece(piece) is int value and >= 0)
        {
            _pendingBytes.Add((byte)value);
            DecodeBytes(final: false);
            _chunkStart = false;
            return;
        }

        DecodeBytes(final: true);
        string surface;
        if (type == SentencePieceModel.PieceType.Control)
        {
            surface = string.Empty; // SentencePiece never prints control pieces
        }
        else if (id >= 0 && type == SentencePieceModel.PieceType.Unknown)
        {
            surface = " \u2047 ";
        }
        else
        {
            surface = piece.Replace(HfTokenizer.SpaceSymbol, ' ');

            // legacy=true keeps SentencePiece's add_dummy_prefix, whose decoder drops the first piece's space.
            if (_chunkStart && _tokenizer.DecoderStripsLeadingSpace && surface.StartsWith(' '))
            {
                surface = surface[1..];
            }
        }

        _chunkStart = false;
        WriteChunkText(surface);
    }

    /// <summary>Ends a SentencePiece decode call (at a special token or the end of a sub-text).</summary>
    private void EndChunk()
    {
        DecodeBytes(final: true);
        if (_legacyChunk.Length > 0)
        {
            string text = _legacyChunk.ToString();
            _legacyChunk.Clear();
            WriteSubText(text);
        }

        _chunkStart = true;
    }

    private void EndSubText()
    {
        EndChunk();
        _subTextTokens = 0;
        _subTextWritten = false;
        _previousWasSpecial = false;
    }

    private void WriteChunkText(string text)
    {
        if (_tokenizer.Legacy)
        {
            _legacyChunk.Append(text);
        }
        else
        {
            WriteSubText(text);
        }
    }

    private void WriteSubText(string text)
    {
        if (text.Length == 0)
        {
            return;
        }

        if (!_subTextWritten)
        {
            _subTextWritten = true;
            if (_joinedParts++ > 0)
            {
                _output.Append(' ');
            }
        }

        _output.Append(text);
    }

    private void WritePart(string text)
    {
        if (_joinedParts++ > 0)
        {
            _output.Append(' ');
        }

        _output.Append(text);
    }

    /// <summary>
    /// Decodes the pending bytes from the front with SentencePiece's rule: a complete valid UTF-8 sequence
    /// is one character, anything else costs one byte and yields U+FFFD. Unless <paramref name="final"/>,
    /// a prefix that more bytes could still complete is kept.
    /// </summary>
    private void DecodeBytes(bool final)
    {
        int offset = 0;
        var text = new StringBuilder();
        while (offset < _pendingBytes.Count)
        {
            int status = Utf8Sequence.Decode(_pendingBytes, offset, final, out int codePoint, out int length);
            if (status == Utf8Sequence.NeedMore)
            {
                break;
            }

            if (status == Utf8Sequence.Valid)
            {
                text.Append(char.ConvertFromUtf32(codePoint));
            }
            else
            {
                text.Append('\uFFFD');
            }

            offset += length;
        }

        _pendingBytes.RemoveRange(0, offset);
        if (text.Length > 0)
        {
            WriteChunkText(text.ToString());
        }
    }
}
