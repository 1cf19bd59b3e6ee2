namespace LlavaModal.Tokenizers.Chat;

/// <summary>
/// A chat template that cannot be rendered: a construct this renderer does not support or a syntax error (with the
/// template's source and the line/column), an error while rendering (an undefined attribute, a type error), or the
/// template's own <c>raise_exception(...)</c> (<see cref="RaisedByTemplate"/>, with the template's message).
/// </summary>
public sealed class ChatTemplateException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="templateSource">Where the template came from (a file, optionally with a key).</param>
    /// <param name="line">1-based line in the template text, or 0 when unknown.</param>
    /// <param name="column">1-based column in the template text, or 0 when unknown.</param>
    /// <param name="problem">What went wrong.</param>
    /// <param name="raisedByTemplate">True when the template called <c>raise_exception</c>.</param>
    public ChatTemplateException(string templateSource, int line, int column, string problem, bool raisedByTemplate = false)
        : base(raisedByTemplate
            ? $"The chat template {templateSource} refused the conversation: {problem} (raise_exception at line {line}, column {column})."
            : $"Chat template {templateSource}, line {line}, column {column}: {problem}")
    {
        TemplateSource = templateSource;
        Line = line;
        Column = column;
        Problem = problem;
        RaisedByTemplate = raisedByTemplate;
    }

    /// <summary>Where the template came from, e.g. <c>'/models/x/tokenizer_config.json' (chat_template)</c>.</summary>
    public string TemplateSource { get; }

    /// <summary>1-based line in the template text (0 when unknown).</summary>
    public int Line { get; }

    /// <summary>1-based column in the template text (0 when unknown).</summary>
    public int Column { get; }

    /// <summary>The problem alone, or the template's own message for <c>raise_exception</c>.</summary>
    public string Problem { get; }

    /// <summary>True when the template itself refused the input with <c>raise_exception</c>.</summary>
    public bool RaisedByTemplate { get; }
}
