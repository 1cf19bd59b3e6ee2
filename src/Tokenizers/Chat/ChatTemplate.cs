using System.Text.Json;

namespace LlavaModal.Tokenizers.Chat;

/// <summary>
/// Renders a conversation into the prompt text a model was tuned on: the checkpoint's own Jinja
/// <c>chat_template</c> when its folder has one (see <see cref="ForModel"/>), else a built-in one: <c>vicuna_v1</c>
/// (LLaVA-1.5, Vicuna; the default), <c>llama2</c>, <c>llama3</c> and <c>chatml</c> (Qwen2 and others).
/// </summary>
public abstract class ChatTemplate
{
    /// <summary>The template's name.</summary>
    public abstract string Name { get; }

    /// <summary>The system sentence used when the conversation has no system message.</summary>
    public virtual string? DefaultSystemPrompt => null;

    /// <summary>Renders <paramref name="messages"/>, ending with the cue for the assistant's next turn.</summary>
    /// <exception cref="ArgumentException">Empty conversation, or a system message that is not first.</exception>
    public string Render(IReadOnlyList<ChatTurn> messages)
    {
        if (messages.Count == 0) throw new ArgumentException("The conversation is empty.", nameof(messages));
        for (int i = 1; i < messages.Count; i++)
            if (messages[i].Role == TurnRole.System)
                throw new ArgumentException($"Message {i} is a system message; only the first message may be one.", nameof(messages));
        var system = messages[0].Role == TurnRole.System ? messages[0].Content : DefaultSystemPrompt;
        return RenderTurns(system, messages.Where(m => m.Role != TurnRole.System).ToList());
    }

    /// <summary>Renders the turns after the system prompt has been resolved.</summary>
    protected abstract string RenderTurns(string? system, IReadOnlyList<ChatTurn> turns);

    /// <summary>The template with this name.</summary>
    /// <exception cref="ArgumentException">Unknown name (the message lists the known ones).</exception>
    public static ChatTemplate Named(string name) => name switch
    {
        "vicuna_v1" => new VicunaV1Template(),
        "llama2" => new Llama2Template(),
        "llama3" => new Llama3Template(),
        "chatml" => new ChatMlTemplate(),
        _ => throw new ArgumentException($"Unknown chat template '{name}' (known: vicuna_v1, llama2, llama3, chatml).", nameof(name)),
    };

    /// <summary>
    /// Key of <c>tokenizer_config.json</c> (a LlavaModal extension, ignored by Hugging Face) whose string value replaces
    /// the <c>vicuna_v1</c> default system sentence. The toy model uses it to keep sequences short; training (label
    /// masks) and inference both read it through <see cref="ForModel"/>.
    /// </summary>
    public const string SystemPromptKey = "llavamodal_system_prompt";

    /// <summary>
    /// The template for a model folder: its own Jinja <c>chat_template</c>, rendered as transformers renders it, read
    /// from (first found) <c>chat_template.jinja</c>, <c>chat_template.json</c>, <c>processor_config.json</c> (the
    /// processor's template, which places images, comes first) or <c>tokenizer_config.json</c> (a string, or the list
    /// form's <c>default</c>). A folder without one gets <c>vicuna_v1</c> (LLaVA-1.5's conversation format), whose
    /// default system sentence is replaced by <see cref="SystemPromptKey"/> when <c>tokenizer_config.json</c> has it.
    /// </summary>
    /// <exception cref="ChatTemplateException">The folder's template uses a construct this renderer does not support, or does not parse (the message names the file, line and column).</exception>
    /// <exception cref="InvalidDataException">A <c>chat_template</c> value or a tokenizer file is malformed.</exception>
    public static ChatTemplate ForModel(string modelDirectory)
    {
        if (CheckpointTemplateFiles.Find(modelDirectory) is (string source, string origin))
        {
            return new JinjaChatTemplate(source, origin, SpecialTokens(modelDirectory));
        }

        var path = Path.Combine(modelDirectory, TokenizerFiles.ConfigFileName);
        if (!File.Exists(path)) return new VicunaV1Template();
        using var json = TokenizerFiles.Parse(path);
        var root = json.RootElement;
        var system = root.ValueKind == JsonValueKind.Object && root.TryGetProperty(SystemPromptKey, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        return new VicunaV1Template(system);
    }

    /// <summary>The special tokens transformers passes to templates (<c>bos_token</c>, ..., <c>additional_special_tokens</c>).</summary>
    static Dictionary<string, object?> SpecialTokens(string modelDirectory)
    {
        TokenizerFiles files = TokenizerFiles.Load(modelDirectory);
        var tokens = files.SpecialTokens.ToDictionary(kv => kv.Key, kv => (object?)kv.Value, StringComparer.Ordinal);
        if (files.AdditionalSpecialTokens.Count > 0)
        {
            tokens["additional_special_tokens"] = files.AdditionalSpecialTokens.Cast<object?>().ToList();
        }

        return tokens;
    }
}

/// <summary>LLaVA-1.5 / Vicuna v1: <c>SYSTEM USER: q ASSISTANT: a&lt;/s&gt;USER: q ASSISTANT:</c>.</summary>
sealed class VicunaV1Template(string? systemPrompt = null) : ChatTemplate
{
    public const string VicunaSystemPrompt =
        "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions.";

    public override string Name => "vicuna_v1";

    public override string DefaultSystemPrompt => systemPrompt ?? VicunaSystemPrompt;

    protected override string RenderTurns(string? system, IReadOnlyList<ChatTurn> turns)
    {
        var sb = new System.Text.StringBuilder();
        sb.Append(system).Append(' ');
        foreach (var m in turns)
        {
            if (m.Role == TurnRole.User) sb.Append("USER: ").Append(m.Content).Append(' ');
            else sb.Append("ASSISTANT: ").Append(m.Content).Append("</s>");
        }
        sb.Append("ASSISTANT:");
        return sb.ToString();
    }
}

/// <summary>LLaMA-2 chat: <c>[INST] &lt;&lt;SYS&gt;&gt;...&lt;&lt;/SYS&gt;&gt; q [/INST] a &lt;/s&gt;&lt;s&gt;[INST] q [/INST]</c> (BOS comes from the tokenizer).</summary>
sealed class Llama2Template : ChatTemplate
{
    public override string Name => "llama2";

    protected override string RenderTurns(string? system, IReadOnlyList<ChatTurn> turns)
    {
        var sb = new System.Text.StringBuilder();
        bool first = true;
        foreach (var m in turns)
        {
            if (m.Role == TurnRole.User)
            {
                if (!first) sb.Append("<s>");
                var content = first && !string.IsNullOrEmpty(system) ? $"<<SYS>>\n{system}\n<</SYS>>\n\n{m.Content}" : m.Content;
                sb.Append("[INST] ").Append(content.Trim()).Append(" [/INST]");
                first = false;
            }
            else sb.Append(' ').Append(m.Content.Trim()).Append(" </s>");
        }
        return sb.ToString();
    }
}

/// <summary>LLaMA-3 instruct headers.</summary>
sealed class Llama3Template : ChatTemplate
{
    public override string Name => "llama3";

    protected override string RenderTurns(string? system, IReadOnlyList<ChatTurn> turns)
    {
        var sb = new System.Text.StringBuilder();
        void Turn(string role, string content) =>
            sb.Append("<|start_header_id|>").Append(role).Append("<|end_header_id|>\n\n").Append(content.Trim()).Append("<|eot_id|>");
        if (!string.IsNullOrEmpty(system)) Turn("system", system);
        foreach (var m in turns) Turn(m.Role == TurnRole.User ? "user" : "assistant", m.Content);
        sb.Append("<|start_header_id|>assistant<|end_header_id|>\n\n");
        return sb.ToString();
    }
}

/// <summary>ChatML (<c>&lt;|im_start|&gt;role\n...&lt;|im_end|&gt;</c>).</summary>
sealed class ChatMlTemplate : ChatTemplate
{
    public override string Name => "chatml";

    public override string DefaultSystemPrompt => "You are a helpful assistant.";

    protected override string RenderTurns(string? system, IReadOnlyList<ChatTurn> turns)
    {
        var sb = new System.Text.StringBuilder();
        void Turn(string role, string content) => sb.Append("<|im_start|>").Append(role).Append('\n').Append(content).Append("<|im_end|>\n");
        if (!string.IsNullOrEmpty(system)) Turn("system", system);
        foreach (var m in turns) Turn(m.Role == TurnRole.User ? "user" : "assistant", m.Content);
        sb.Append("<|im_start|>assistant\n");
        return sb.ToString();
    }
}
