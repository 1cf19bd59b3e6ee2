namespace LlavaModal.Tokenizers;

/// <summary>
/// Turns generated ids into text as they arrive. The chunks returned by <see cref="Push"/> followed by
/// <see cref="Flush"/> concatenate to exactly <see cref="HfTokenizer.Decode"/> of all pushed ids, i.e. the
/// ids are decoded as a fresh sequence (the prompt is not part of it): like HF, the leading "▁" of the
/// first generated piece is dropped, so a reply starting with "▁Hello" streams as "Hello".
/// </summary>
/// <remarks>
/// Text is held back only while later ids could still change it: byte-fallback pieces until their UTF-8
/// character is complete (no chunk ends inside a character), and an id that decodes to nothing yet.
/// Not thread-safe; use one instance per generated sequence.
/// </remarks>
public sealed class StreamingDetokenizer
{
    readonly IDecodeState state;
    bool finished;

    internal StreamingDetokenizer(IDecodeState state) => this.state = state;

    /// <summary>Adds one generated id.</summary>
    /// <param name="id">The token id.</param>
    /// <returns>The text completed by this id; often empty while bytes of a character are pending.</returns>
    /// <exception cref="InvalidOperationException"><see cref="Flush"/> was already called.</exception>
    public string Push(int id)
    {
        if (finished)
        {
            throw new InvalidOperationException("The detokenizer was flushed; create a new one for a new sequence.");
        }

        state.Push(id);
        return state.TakeOutput();
    }

    /// <summary>Ends the sequence and returns the text still held back (e.g. an incomplete byte sequence as U+FFFD).</summary>
    /// <returns>The remaining text.</returns>
    public string Flush()
    {
        if (finished)
        {
            return string.Empty;
        }

        finished = true;
        state.Finish();
        return state.TakeOutput();
    }
}
