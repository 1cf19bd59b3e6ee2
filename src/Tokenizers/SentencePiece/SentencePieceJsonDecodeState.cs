using System.Text;

namespace LlavaModal.Tokenizers.SentencePiece;

/// <summary>
/// Decoding for <see cref="SentencePieceJsonTokenizer"/>, as the reference's decoder chain: each token (added tokens
/// included, special ones dropped when asked) goes through the <c>Replace</c> steps; a run of <c>&lt;0xNN&gt;</c> tokens
/// becomes its UTF-8 text, or one U+FFFD per byte when the run is not valid UTF-8 (<c>ByteFallback</c>); <c>Strip</c>
/// removes leading spaces of the fused text, and the <c>Metaspace</c> decoder the leading space of the first token.
/// </summary>
/// <remarks>
/// All of this is left to right, so streaming only has to hold back an unfinished byte run: the chunks concatenate
/// to the batch result by construction.
/// </remarks>
sealed class SentencePieceJsonDecodeState : IDecodeState
{
    readonly SentencePieceJsonTokenizer tokenizer;
    readonly bool skipSpecialTokens;
    readonly List<SentencePieceJson.ReplaceStep> replacements = [];
    readonly bool byteFallback;
    readonly SentencePieceJson.StripStep? strip;
    readonly SentencePieceJson.MetaspaceStep? metaspace;
    readonly List<byte> pendingBytes = [];
    readonly StringBuilder output = new();
    int stripLeft;
    bool firstToken = true;

    public SentencePieceJsonDecodeState(SentencePieceJsonTokenizer tokenizer, bool skipSpecialTokens)
    {
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
        foreach (SentencePieceJson.DecodeStep step in tokenizer.DecodeSteps)
        {
            switch (step)
            {
                case SentencePieceJson.ReplaceStep replace:
                    replacements.Add(replace);
                    break;
                case SentencePieceJson.ByteFallbackStep:
                    byteFallback = true;
                    break;
                case SentencePieceJson.StripStep strip:
                    this.strip = strip;
                    stripLeft = strip.Start;
                    break;
                case SentencePieceJson.MetaspaceStep metaspace:
                    this.metaspace = metaspace;
                    break;
            }
        }
    }

    public void Push(int id)
    {
        string token = tokenizer.IdToToken(id); // validates the id even when it is skipped below
        if (skipSpecialTokens && tokenizer.IsSpecial(id))
        {
            return;
        }

        foreach (SentencePieceJson.ReplaceStep replace in replacements)
        {
            token = token.Replace(replace.Pattern, replace.Content, StringComparison.Ordinal);
        }

        if (byteFallback && HfTokenizer.ByteOfPiece(token) is int b and >= 0)
        {
            pendingBytes.Add((byte)b);
            firstToken = false;
            return;
        }

        FlushBytes();
        if (this.metaspace is { } metaspace)
        {
            token = token.Replace(SentencePieceJson.Replacement, ' ');
            if (firstToken && metaspace.Scheme != SentencePieceJson.PrependScheme.Never && token.StartsWith(' '))
            {
                token = token[1..];
            }
        }

        firstToken = false;
        Emit(token);
    }

    public void Finish() => FlushBytes();

    public string TakeOutput()
    {
        string text = output.ToString();
        output.Clear();
        return text;
    }

    void FlushBytes()
    {
        if (pendingBytes.Count == 0)
        {
            return;
        }

        byte[] bytes = [.. pendingBytes];
        pendingBytes.Clear();
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            // The reference replaces every byte of an invalid run, not just the invalid sequences.
            text = new string('\uFFFD', bytes.Length);
        }

        Emit(text);
    }

    void Emit(string text)
    {
        int skip = 0;
        while (this.strip is { } strip && stripLeft > 0 && skip < text.Length)
        {
            if (text[skip] != strip.Content)
            {
                stripLeft = 0;
                break;
            }

            skip++;
            stripLeft--;
        }

        output.Append(text, skip, text.Length - skip);
    }
}
