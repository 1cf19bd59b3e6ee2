namespace LlavaModal.Tokenizers.Chat.Jinja;

/// <summary>
/// An error inside the Jinja engine, positioned by source offset; <see cref="JinjaTemplate"/> turns it into a
/// <see cref="ChatTemplateException"/> naming the template source, line and column.
/// </summary>
sealed class JinjaException(int position, string problem, bool raisedByTemplate = false) : Exception(problem)
{
    /// <summary>Offset in the template source, or -1 when unknown.</summary>
    public int Position { get; set; } = position;

    public bool RaisedByTemplate { get; } = raisedByTemplate;
}
