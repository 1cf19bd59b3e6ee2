using System.Text.Json;
using System.Text.Json.Nodes;
using LlavaModal.Tokenizers.Chat;

namespace LlavaModal.Tokenizers.Tests.Chat;

/// <summary>
/// <see cref="ChatTemplate.ForModel"/> with real checkpoint templates in the files they ship in: the prompt for
/// <see cref="ChatTurn"/> messages (placeholders in the text) equals the reference's render of the same conversation
/// (content lists for the llava-hf processors), the template files are read in the documented order, and folders
/// without a template keep <c>vicuna_v1</c>.
/// </summary>
public sealed class CheckpointChatTemplateTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "llavamodal-chat-" + Guid.NewGuid().ToString("N"));

    public CheckpointChatTemplateTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static IEnumerable<object[]> RenderRows() => ChatTemplateFixtures.RenderRows();

    /// <summary>Writes the fixture template into the file it ships in, with the special tokens in tokenizer_config.json.</summary>
    void WriteCheckpoint(string templateName, JsonElement specialTokens)
    {
        (string template, string file) = ChatTemplateFixtures.Template(templateName);
        var config = JsonNode.Parse(specialTokens.GetRawText())!.AsObject();
        if (file == "tokenizer_config.json")
        {
            config["chat_template"] = template;
        }
        else
        {
            File.WriteAllText(Path.Combine(_dir, file), new JsonObject { ["chat_template"] = template }.ToJsonString());
        }

        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), config.ToJsonString());
    }

    /// <summary>The fixture messages as LlavaModal writes them: content-list items joined with newlines, placeholders for media.</summary>
    static List<ChatTurn>? Turns(JsonElement messages)
    {
        var turns = new List<ChatTurn>();
        foreach (JsonElement m in messages.EnumerateArray())
        {
            TurnRole? role = m.GetProperty("role").GetString() switch
            {
                "system" => TurnRole.System,
                "user" => TurnRole.User,
                "assistant" => TurnRole.Assistant,
                _ => null,
            };
            if (role is null)
            {
                return null; // a role ChatTurn cannot express
            }

            JsonElement content = m.GetProperty("content");
            string text = content.ValueKind == JsonValueKind.String
                ? content.GetString()!
                : string.Join("\n", content.EnumerateArray().Select(i => i.GetProperty("type").GetString() switch
                {
                    "text" => i.GetProperty("text").GetString()!,
                    var type => $"<{type}>",
                }));
            turns.Add(new ChatTurn(role.Value, text));
        }

        return turns;
    }

    [Theory]
    [MemberData(nameof(RenderRows))]
    public void ChatTurnsRenderAsTheReferenceRendersTheConversation(int index, string label)
    {
        JsonElement c = ChatTemplateFixtures.Render(index);
        WriteCheckpoint(c.GetProperty("template").GetString()!, c.GetProperty("special_tokens"));
        var template = Assert.IsType<JinjaChatTemplate>(ChatTemplate.ForModel(_dir));
        Assert.Equal(c.GetProperty("template").GetString()!.StartsWith("llava", StringComparison.Ordinal), template.UsesContentList);
        List<ChatTurn>? turns = Turns(c.GetProperty("messages"));
        if (turns is null)
        {
            return;
        }

        bool generation = c.GetProperty("add_generation_prompt").GetBoolean();
        if (c.TryGetProperty("error", out JsonElement error))
        {
            var e = Assert.Throws<ChatTemplateException>(() => template.Render(turns, generation));
            Assert.True(e.RaisedByTemplate, label);
            Assert.Equal(error.GetString(), e.Problem);
            Assert.Contains(error.GetString()!, e.Message, StringComparison.Ordinal);
            return;
        }

        Assert.Equal(c.GetProperty("expected").GetString(), template.Render(turns, generation));
        if (generation && turns[1..].All(t => t.Role != TurnRole.System))
        {
            // The public Render ends with the assistant cue, as the base class promises.
            Assert.Equal(c.GetProperty("expected").GetString(), template.Render(turns));
        }
    }

    [Fact]
    public void TheProcessorTemplateWinsOverTheTokenizerOne()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), """{ "chat_template": "tokenizer" }""");
        File.WriteAllText(Path.Combine(_dir, "processor_config.json"), """{ "chat_template": "processor_config" }""");
        Assert.Equal("processor_config", Source());
        File.WriteAllText(Path.Combine(_dir, "chat_template.json"), """{ "chat_template": "chat_template.json" }""");
        Assert.Equal("chat_template.json", Source());
        File.WriteAllText(Path.Combine(_dir, "chat_template.jinja"), "jinja file\n");
        Assert.Equal("jinja file\n", Source());

        string Source() => Assert.IsType<JinjaChatTemplate>(ChatTemplate.ForModel(_dir)).Source;
    }

    [Fact]
    public void TheListFormPicksTheDefaultTemplate()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"),
            """{ "chat_template": [ { "name": "tool_use", "template": "tools" }, { "name": "default", "template": "{{ messages[0].content }}!" } ] }""");
        Assert.Equal("q!", ChatTemplate.ForModel(_dir).Render([new ChatTurn(TurnRole.User, "q")]));
    }

    [Fact]
    public void TheListFormWithoutDefaultIsRefused()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), """{ "chat_template": [ { "name": "rag", "template": "x" } ] }""");
        var e = Assert.Throws<InvalidDataException>(() => ChatTemplate.ForModel(_dir));
        Assert.Contains(Path.Combine(_dir, "tokenizer_config.json"), e.Message, StringComparison.Ordinal);
        Assert.Contains("'chat_template'", e.Message, StringComparison.Ordinal);
        Assert.Contains("rag", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFolderWithoutATemplateKeepsVicunaAndItsSystemPromptKey()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), """{ "llavamodal_system_prompt": "Answer about the image." }""");
        ChatTemplate template = ChatTemplate.ForModel(_dir);
        Assert.Equal("vicuna_v1", template.Name);
        Assert.Equal("Answer about the image. USER: q ASSISTANT:", template.Render([new ChatTurn(TurnRole.User, "q")]));
        Directory.Delete(_dir, recursive: true);
        Directory.CreateDirectory(_dir);
        Assert.Equal("vicuna_v1", ChatTemplate.ForModel(_dir).Name);
    }

    [Fact]
    public void AnUnsupportedConstructIsRefusedAtLoadWithFileLineAndColumn()
    {
        File.WriteAllText(Path.Combine(_dir, "chat_template.json"), """{ "chat_template": "{% for m in messages %}\n  {% include 'other.jinja' %}{% endfor %}" }""");
        var e = Assert.Throws<ChatTemplateException>(() => ChatTemplate.ForModel(_dir));
        Assert.Contains(Path.Combine(_dir, "chat_template.json"), e.Message, StringComparison.Ordinal);
        Assert.Equal((2, 6), (e.Line, e.Column));
        Assert.Contains("include", e.Problem, StringComparison.Ordinal);
        Assert.False(e.RaisedByTemplate);
    }

    [Fact]
    public void TheTemplatesOwnRefusalIsAnErrorWithItsMessage()
    {
        WriteCheckpoint("mistral-instruct-v0.1", JsonDocument.Parse("""{ "bos_token": "<s>", "eos_token": "</s>" }""").RootElement);
        ChatTemplate template = ChatTemplate.ForModel(_dir);
        var e = Assert.Throws<ChatTemplateException>(() => template.Render([new ChatTurn(TurnRole.System, "s"), new ChatTurn(TurnRole.User, "q")]));
        Assert.True(e.RaisedByTemplate);
        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", e.Problem);
        Assert.Contains("tokenizer_config.json", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SpecialTokensOfTheTokenizerFilesReachTheTemplate()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"),
            """{ "bos_token": { "content": "<s>" }, "eos_token": "</s>", "chat_template": "{{ bos_token }}{{ eos_token }}{{ pad_token }}{{ additional_special_tokens|join(',') }}" }""");
        File.WriteAllText(Path.Combine(_dir, "special_tokens_map.json"), """{ "pad_token": "<pad>", "additional_special_tokens": ["<image>", "<video>"] }""");
        Assert.Equal("<s></s><pad><image>,<video>", ChatTemplate.ForModel(_dir).Render([new ChatTurn(TurnRole.User, "q")]));
    }

    [Fact]
    public void ImagePlaceholdersBecomeContentItems()
    {
        var parts = ContentParts.Split("Look: <image>\n and <image> again <video>", ContentParts.DefaultPlaceholders);
        Assert.Equal(
            """[{"type": "text", "text": "Look:"}, {"type": "image"}, {"type": "text", "text": "and"}, {"type": "image"}, {"type": "text", "text": "again"}, {"type": "video"}]""",
            LlavaModal.Tokenizers.Chat.Jinja.JinjaJson.Serialize(parts, false, null, null, null, false, 0));
        Assert.Equal("""[{"type": "text", "text": "  plain  "}]""", LlavaModal.Tokenizers.Chat.Jinja.JinjaJson.Serialize(ContentParts.Split("  plain  ", ContentParts.DefaultPlaceholders), false, null, null, null, false, 0));
        Assert.Equal("""[{"type": "text", "text": ""}]""", LlavaModal.Tokenizers.Chat.Jinja.JinjaJson.Serialize(ContentParts.Split(string.Empty, ContentParts.DefaultPlaceholders), false, null, null, null, false, 0));
    }
}
