using LlavaModal.Tokenizers.Chat.Jinja;

namespace LlavaModal.Tokenizers.Chat;

/// <summary>
/// A checkpoint's own Jinja chat template, rendered as transformers' <c>apply_chat_template</c> renders it: with
/// <c>messages</c> (role and content), <c>add_generation_prompt</c>, and the tokenizer's special tokens
/// (<c>bos_token</c>, <c>eos_token</c>, ... and <c>additional_special_tokens</c>); <c>tools</c>, <c>documents</c> and
/// <c>date_string</c> are left undefined, so templates take their own defaults.
/// </summary>
/// <remarks>
/// Content form: templates that print <c>message['content']</c> get the text as a string; templates that iterate it
/// (llava-hf processors) get a content list, made by <see cref="ContentParts.Split"/>. Which one a template wants is
/// found once, at load, by rendering a probe message both ways.
/// </remarks>
sealed class JinjaChatTemplate : ChatTemplate
{
    const string Probe = "\u2063llavamodal-probe\u2063";

    readonly JinjaTemplate template;
    readonly IReadOnlyDictionary<string, object?> specialTokens;
    readonly IReadOnlyDictionary<string, string> placeholders;

    /// <summary>Parses the template (errors surface here, at load, as <see cref="ChatTemplateException"/>).</summary>
    public JinjaChatTemplate(string source, string origin, IReadOnlyDictionary<string, object?> specialTokens, IReadOnlyDictionary<string, string>? placeholders = null)
    {
        template = new JinjaTemplate(source, origin);
        this.specialTokens = specialTokens;
        this.placeholders = placeholders ?? ContentParts.DefaultPlaceholders;
        Origin = origin;
        UsesContentList = ProbeContentList();
    }

    public override string Name => "checkpoint";

    /// <summary>Where the template came from (file and key).</summary>
    public string Origin { get; }

    /// <summary>True when the template iterates <c>message['content']</c> as a list of typed items.</summary>
    public bool UsesContentList { get; }

    /// <summary>The template text.</summary>
    public string Source => template.Source;

    protected override string RenderTurns(string? system, IReadOnlyList<ChatTurn> turns)
    {
        var messages = new List<ChatTurn>(turns.Count + 1);
        if (system is not null)
        {
            messages.Add(new ChatTurn(TurnRole.System, system));
        }

        messages.AddRange(turns);
        return Render(messages, addGenerationPrompt: true);
    }

    /// <summary>Renders <paramref name="messages"/> as they are (any order of roles; the template decides what it accepts).</summary>
    /// <exception cref="ChatTemplateException">The template failed or refused the conversation (<c>raise_exception</c>).</exception>
    public string Render(IReadOnlyList<ChatTurn> messages, bool addGenerationPrompt) =>
        RenderMessages(messages.Select(m => (object?)Message(RoleName(m.Role), UsesContentList ? ContentParts.Split(m.Content, placeholders) : m.Content)).ToList(), addGenerationPrompt);

    /// <summary>Renders messages already in template form (dicts with <c>role</c> and <c>content</c>).</summary>
    internal string RenderMessages(List<object?> messages, bool addGenerationPrompt)
    {
        var variables = new Dictionary<string, object?>(specialTokens, StringComparer.Ordinal)
        {
            ["messages"] = messages,
            ["add_generation_prompt"] = addGenerationPrompt,
        };
        return template.Render(variables);
    }

    static string RoleName(TurnRole role) => role switch
    {
        TurnRole.System => "system",
        TurnRole.User => "user",
        _ => "assistant",
    };

    static JinjaDict Message(string role, object content) => new() { ["role"] = role, ["content"] = content };

    bool ProbeContentList()
    {
        if (Renders(Probe))
        {
            return false;
        }

        return Renders(new List<object?> { new JinjaDict { ["type"] = "text", ["text"] = Probe } });

        bool Renders(object content)
        {
            try
            {
                return RenderMessages([Message("user", content)], addGenerationPrompt: true).Contains(Probe, StringComparison.Ordinal);
            }
            catch (ChatTemplateException)
            {
                return false;
            }
        }
    }
}
