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
internal sealed class SentencePieceJsonDecodeState : IDecodeState
{
    private readonly SentencePieceJsonTokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private readonly List<SentencePieceJson.ReplaceStep> _replacements = [];
    private readonly bool _byteFallback;
    private readonly SentencePieceJson.StripStep? _strip;
    private readonly SentencePieceJson.MetaspaceStep? _metaspace;
    private readonly List<byte> _pendingBytes = [];
    private readonly StringBuilder _output = new();
    private int _stripLeft;
    private bool _firstToken = true;

    public SentencePieceJsonDecodeState(SentencePieceJsonTokenizer tokenizer, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
        foreach (SentencePieceJson.DecodeStep step in tokenizer.DecodeSteps)
        {
            switch (step)
            {
                case SentencePieceJson.ReplaceStep replace:
                    _replacements.Add(replace);
                    break;
                case SentencePieceJson.ByteFallbackStep:
                    _byteFallback = true;
                    break;
                case SentencePieceJson.StripStep strip:
                    _strip = strip;
                    _stripLeft = strip.Start;
                    break;
                case SentencePieceJson.MetaspaceStep metaspace:
                    _metaspace = metaspace;
                    break;
            }
        }
    }

    public void Push(int id)
    {
        string token = _tokenizer.IdToToken(id); // validates the id even when it is skipped below
        if (_skipSpecialTokens && _tokenizer.IsSpecial(id))
        {
            return;
        }

        foreach (SentencePieceJson.ReplaceStep replace in _replacements)
        {
            token = token.Replace(replace.Pattern, replace.Content, StringComparison.Ordinal);
        }

        if (_byteFallback && HfTokenizer.ByteOfPiece(token) is int b and >= 0)
        {
            _pendingBytes.Add((byte)b);
            _firstToken = false;
            return;
        }

        FlushBytes();
        if (_metaspace is { } metaspace)
        {
            token = token.Replace(SentencePieceJson.Replacement, ' ');
            if (_firstToken && metaspace.Scheme != SentencePieceJson.PrependScheme.Never && token.StartsWith(' '))
            {
                token = token[1..];
            }
        }

        _firstToken = false;
        Emit(token);
    }

    public void Finish() => FlushBytes();

    public string TakeOutput()
    {
        string text = _output.ToString();
        _output.Clear();
        return text;
    }

    private void FlushBytes()
    {
        if (_pendingBytes.Count == 0)
        {
            return;
        }

        byte[] bytes = [.. _pendingBytes];
        _pendingBytes.Clear();
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

    private void Emit(string text)
    {
        int skip = 0;
        while (_strip is { } strip && _stripLeft > 0 && skip < text.Length)
        {
            if (text[skip] != strip.Content)
            {
                _stripLeft = 0;
                break;
            }

            skip++;
            _stripLeft--;
        }

        _output.Append(text, skip, text.Length - skip);
    }
}
