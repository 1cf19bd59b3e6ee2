namespace LlavaModal.Tokenizers.Chat.Jinja;

/// <summary>
/// A parsed Jinja template. Parsing happens once, in the constructor, so an unsupported construct or a syntax error
/// is reported when a checkpoint is loaded, not at its first prompt; every error becomes a
/// <see cref="ChatTemplateException"/> naming <see cref="SourceName"/> and the line and column.
/// </summary>
sealed class JinjaTemplate
{
    readonly IReadOnlyList<Node> nodes;

    /// <exception cref="ChatTemplateException">The template does not parse, or uses a construct this renderer lacks.</exception>
    public JinjaTemplate(string source, string sourceName)
    {
        Source = source;
        SourceName = sourceName;
        try
        {
            nodes = JinjaParser.Parse(source);
        }
        catch (JinjaException e)
        {
            throw ToPublic(e);
        }
    }

    public string Source { get; }

    /// <summary>Where the template came from, for messages.</summary>
    public string SourceName { get; }

    /// <summary>Renders with <paramref name="variables"/> as the template's globals.</summary>
    /// <exception cref="ChatTemplateException">Rendering failed, or the template called <c>raise_exception</c>.</exception>
    public string Render(IReadOnlyDictionary<string, object?> variables)
    {
        try
        {
            return JinjaInterpreter.Render(nodes, variables);
        }
        catch (JinjaException e)
        {
            throw ToPublic(e);
        }
    }

    ChatTemplateException ToPublic(JinjaException e)
    {
        (int line, int column) = LineAndColumn(e.Position);
        return new ChatTemplateException(SourceName, line, column, e.Message, e.RaisedByTemplate);
    }

    (int Line, int Column) LineAndColumn(int position)
    {
        if (position < 0)
        {
            return (0, 0);
        }

        int line = 1, column = 1;
        for (int i = 0; i < position && i < Source.Length; i++)
        {
            if (Source[i] == '\n')
            {
                line++;
                column = 1;
            }
            else
            {
                column++;
            }
        }

        return (line, column);
    }
}
