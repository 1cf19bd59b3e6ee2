using System.Text.Json;
using LlavaModal.SemanticKernel.Settings;
using Microsoft.Extensions.AI;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using SkChat = Microsoft.SemanticKernel.ChatCompletion.ChatHistory;

namespace LlavaModal.Tests.SemanticKernel.Services;

/// <summary>Structured output through <see cref="IChatClient"/> and Semantic Kernel: JSON that parses and fits its schema, whatever the (random) model samples.</summary>
[Collection(LlavaServicesCollection.Name)]
public class StructuredOutputTests(LlavaServicesFixture fx)
{
    public sealed record Sighting(string Animal, int Count, bool Indoors, List<string> Colors, Size Size);

    public enum Size { Small, Medium, Large }

    static ChatMessage ImageQuestion() => new(ChatRole.User,
        [new DataContent(LlavaServicesFixture.ImageBytes(), LlavaServicesFixture.MediaType()), new Microsoft.Extensions.AI.TextContent("Describe the animal as JSON.")]);

    [Fact]
    public async Task GetResponseAsync_of_a_type_gives_a_deserialised_object_for_every_seed()
    {
        for (int seed = 0; seed < 6; seed++)
        {
            var response = await fx.Client.GetResponseAsync<Sighting>([ImageQuestion()], new ChatOptions { Temperature = 1, Seed = seed, MaxOutputTokens = 120 });
            Assert.True(response.TryGetResult(out var sighting), $"seed {seed}: {response.Text}");
            Assert.NotNull(sighting!.Animal);
            Assert.NotNull(sighting.Colors);
            Assert.True(Enum.IsDefined(sighting.Size));
        }
    }

    [Fact]
    public async Task Json_mode_answers_a_json_object_streamed_or_whole()
    {
        var options = new ChatOptions { ResponseFormat = ChatResponseFormat.Json, Temperature = 1, Seed = 11, MaxOutputTokens = 60 };
        var whole = await fx.Client.GetResponseAsync([ImageQuestion()], options);
        using (var document = JsonDocument.Parse(whole.Text)) Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
        var streamed = string.Concat(await fx.Client.GetStreamingResponseAsync([ImageQuestion()], options).Select(u => u.Text).ToListAsync());
        Assert.Equal(whole.Text, streamed);
    }

    [Fact]
    public async Task A_json_schema_response_format_is_followed()
    {
        const string schema = """{"type":"object","properties":{"answer":{"enum":["yes","no"]},"confidence":{"type":"number","minimum":0}},"required":["answer","confidence"]}""";
        using var parsed = JsonDocument.Parse(schema);
        var format = ChatResponseFormat.ForJsonSchema(parsed.RootElement.Clone(), "verdict");
        for (int seed = 0; seed < 4; seed++)
        {
            var response = await fx.Client.GetResponseAsync([ImageQuestion()], new ChatOptions { ResponseFormat = format, Temperature = 1, Seed = seed, MaxOutputTokens = 40 });
            Assert.True(Tests.Decoder.Constraints.OutputGrammarTests.Validates(schema, response.Text), response.Text);
        }
    }

    [Fact]
    public async Task A_schema_the_decoder_cannot_follow_is_refused_by_keyword()
    {
        using var parsed = JsonDocument.Parse("""{"type":"object","properties":{"zip":{"type":"string","pattern":"^[0-9]{5}$"}}}""");
        var e = await Assert.ThrowsAsync<NotSupportedException>(() => fx.Client.GetResponseAsync([new ChatMessage(ChatRole.User, "hi")],
            new ChatOptions { ResponseFormat = ChatResponseFormat.ForJsonSchema(parsed.RootElement.Clone()) }));
        Assert.Contains("'pattern'", e.Message, StringComparison.Ordinal);
        Assert.Contains("#/properties/zip", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Semantic_Kernel_settings_take_a_type_or_json_object()
    {
        var history = new SkChat();
        history.AddUserMessage([new ImageContent(LlavaServicesFixture.ImageBytes(), LlavaServicesFixture.MediaType()), new Microsoft.SemanticKernel.TextContent("Describe the animal.")]);
        var typed = await fx.Service.GetChatMessageContentAsync(history, new LlavaPromptExecutionSettings { ResponseFormat = typeof(Sighting), Temperature = 1, Seed = 5, MaxTokens = 120 });
        var sighting = JsonSerializer.Deserialize<Sighting>(typed.Content!, AIJsonUtilities.DefaultOptions);
        Assert.NotNull(sighting);

        // Generic settings, as a prompt template or OpenAI-style configuration writes them.
        var generic = new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["response_format"] = "json_object", ["max_tokens"] = 60, ["temperature"] = 1.0, ["seed"] = 3 } };
        var json = await fx.Service.GetChatMessageContentAsync(history, generic);
        using var document = JsonDocument.Parse(json.Content!);
        Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
    }

    [Fact]
    public void Response_formats_are_read_in_every_accepted_form()
    {
        var settings = new LlavaPromptExecutionSettings { ResponseFormat = """{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"a":{"type":"null"}},"required":["a"]}}}""" };
        Assert.True(settings.ToGenerationOptions().OutputGrammar!.IsMatch("{\"a\":null}"));
        Assert.Null(new LlavaPromptExecutionSettings { ResponseFormat = "text" }.ToGenerationOptions().OutputGrammar);
        Assert.Null(new LlavaPromptExecutionSettings { ResponseFormat = ChatResponseFormat.Text }.ToGenerationOptions().OutputGrammar);
        Assert.True(new LlavaPromptExecutionSettings { ResponseFormat = ChatResponseFormat.Json }.ToGenerationOptions().OutputGrammar!.IsMatch("{\"any\":[1]}"));
        var clone = (LlavaPromptExecutionSettings)new LlavaPromptExecutionSettings { ResponseFormat = typeof(Sighting) }.Clone();
        Assert.IsType<JsonElement>(clone.ResponseFormat);
        var e = Assert.Throws<ArgumentException>(() => new LlavaPromptExecutionSettings { ResponseFormat = "yaml" });
        Assert.Contains("'yaml'", e.Message, StringComparison.Ordinal);
    }
}
