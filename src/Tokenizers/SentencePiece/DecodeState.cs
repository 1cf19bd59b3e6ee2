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
sealed class DecodeState : IDecodeState
{
    readonly HfTokenizer tokenizer;
    readonly bool skipSpecialTokens;
    readonly StringBuilder output = new();
    readonly List<byte> pendingBytes = [];

    /// <summary>legacy=true writes a space before a special token but in front of the preceding text, so that text waits here.</summary>
    readonly StringBuilder legacyChunk = new();

    int joinedParts;      // parts already joined into the output (HF sub_texts)
    int subTextTokens;    // tokens of the current sub-text
    bool subTextWritten;  // the current sub-text produced text (so it is a joined part)
    bool previousWasSpecial;
    bool chunkStart = true; // next piece starts a SentencePiece decode call

    public DecodeState(HfTokenizer tokenizer, bool skipSpecialTokens)
    {
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
    }

    public void Push(int id)
    {
        if (skipSpecialTokens && tokenizer.IsSpecial(id))
        {
            return;
        }

        string token = tokenizer.IdToToken(id);
        if (tokenizer.LegacyAddedIds.Contains(id))
        {
            EndSubText();
            WritePart(token);
            return;
        }

        int index = subTextTokens++;
        if (index == 0 && tokenizer.AddPrefixSpace && token.Length > 0 && token[0] == HfTokenizer.SpaceSymbol)
        {
            token = token[1..];
        }

        if (tokenizer.SpecialTokenContents.Contains(token))
        {
            if (tokenizer.Legacy && !previousWasSpecial && index != 0)
            {
                WriteSubText(" ");
            }

            EndChunk();
            WriteSubText(token);
            previousWasSpecial = true;
            return;
        }

        if (previousWasSpecial && index == 1 && tokenizer.AddPrefixSpace && !(token.Length > 0 && token[0] == HfTokenizer.SpaceSymbol))
        {
            WriteSubText(" ");
        }

        WritePiece(token);
        previousWasSpecial = false;
    }

    /// <summary>Ends the sequence: pending bytes become text and a trailing empty sub-text still gets its joining space.</summary>
    public void Finish()
    {
        EndChunk();
        if (subTextTokens > 0 && !subTextWritten && joinedParts > 0)
        {
            output.Append(' ');
        }

        subTextTokens = 0;
        subTextWritten = false;
    }

    public string TakeOutput()
    {
        string text = output.ToString();
        output.Clear();
        return text;
    }

    /// <summary>SentencePiece's decoding of one piece (the piece string is looked up again, as SentencePiece does).</summary>
    void WritePiece(string piece)
    {
        int id = tokenizer.PieceId(piece);
        SentencePieceModel.PieceType type = id >= 0 ? tokenizer.PieceType(id) : SentencePieceModel.PieceType.Unknown;
        if (type == SentencePieceModel.PieceType.Byte && HfTokenizer.ByteOfPiece(piece) is int value and >= 0)
        {
            pendingBytes.Add((byte)value);
            DecodeBytes(final: false);
            chunkStart = false;
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
            if (chunkStart && tokenizer.DecoderStripsLeadingSpace && surface.StartsWith(' '))
            {
                surface = surface[1..];
            }
        }

        chunkStart = false;
        WriteChunkText(surface);
    }

    /// <summary>Ends a SentencePiece decode call (at a special token or the end of a sub-text).</summary>
    void EndChunk()
    {
        DecodeBytes(final: true);
        if (legacyChunk.Length > 0)
        {
            string text = legacyChunk.ToString();
            legacyChunk.Clear();
            WriteSubText(text);
        }

        chunkStart = true;
    }

    void EndSubText()
    {
        EndChunk();
        subTextTokens = 0;
        subTextWritten = false;
        previousWasSpecial = false;
    }

    void WriteChunkText(string text)
    {
        if (tokenizer.Legacy)
        {
            legacyChunk.Append(text);
        }
        else
        {
            WriteSubText(text);
        }
    }

    void WriteSubText(string text)
    {
        if (text.Length == 0)
        {
            return;
        }

        if (!subTextWritten)
        {
            subTextWritten = true;
            if (joinedParts++ > 0)
            {
                output.Append(' ');
            }
        }

        output.Append(text);
    }

    void WritePart(string text)
    {
        if (joinedParts++ > 0)
        {
            output.Append(' ');
        }

        output.Append(text);
    }

    /// <summary>
    /// Decodes the pending bytes from the front with SentencePiece's rule: a complete valid UTF-8 sequence
    /// is one character, anything else costs one byte and yields U+FFFD. Unless <paramref name="final"/>,
    /// a prefix that more bytes could still complete is kept.
    /// </summary>
    void DecodeBytes(bool final)
    {
        int offset = 0;
        var text = new StringBuilder();
        while (offset < pendingBytes.Count)
        {
            int status = Utf8Sequence.Decode(pendingBytes, offset, final, out int codePoint, out int length);
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

        pendingBytes.RemoveRange(0, offset);
        if (text.Length > 0)
        {
            WriteChunkText(text.ToString());
        }
    }
}
