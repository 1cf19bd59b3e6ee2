using LlavaModal.Decoder.Generation;
using LlavaModal.SemanticKernel.Settings;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using Microsoft.SemanticKernel.Services;

namespace LlavaModal.Tests.SemanticKernel.Services;

[Collection(LlavaServicesCollection.Name)]
public class LlavaChatCompletionServiceTests(LlavaServicesFixture fx)
{
    static ChatHistory ImageHistory(string? system = null, ImageContent? image = null)
    {
        var history = system is null ? new ChatHistory() : new ChatHistory(system);
        history.AddUserMessage([image ?? new ImageContent(LlavaServicesFixture.ImageBytes(), "image/png"), new TextContent(LlavaServicesFixture.Question)]);
        return history;
    }

    [Fact]
    public async Task A_chat_history_with_an_image_gets_the_direct_answer_with_metadata()
    {
        var expected = fx.DirectQuestion(5, system: "You are a careful describer.");
        var answer = await fx.Service.GetChatMessageContentAsync(ImageHistory("You are a careful describer."), new LlavaPromptExecutionSettings { MaxTokens = 5 });
        Assert.Equal(expected.Text, answer.Content);
        Assert.Equal(expected.GeneratedIds, Assert.IsType<GenerationResult>(answer.InnerContent).GeneratedIds);
        Assert.Equal(AuthorRole.Assistant, answer.Role);
        Assert.Equal("llava-tiny-a", answer.ModelId);
        Assert.Equal("length", answer.Metadata!["FinishReason"]);
        var usage = Assert.IsType<Microsoft.Extensions.AI.UsageDetails>(answer.Metadata["Usage"]);
        Assert.Equal(expected.PromptTokens, usage.InputTokenCount);
        Assert.Equal(5, usage.OutputTokenCount);
        Assert.Equal("llava-tiny-a", fx.Service.GetModelId());
        Assert.Equal("llava-tiny-a", fx.Service.Attributes[AIServiceExtensions.ModelIdKey]);
    }

    [Fact]
    public async Task Images_as_data_uris_and_without_media_type_survive_the_adapter()
    {
        var expected = fx.DirectQuestion(3);
        var dataUri = new ImageContent { DataUri = $"data:image/png;base64,{Convert.ToBase64String(LlavaServicesFixture.ImageBytes())}" };
        var fromUri = await fx.Service.GetChatMessageContentAsync(ImageHistory(image: dataUri), new LlavaPromptExecutionSettings { MaxTokens = 3 });
        Assert.Equal(expected.Text, fromUri.Content);
        var noMediaType = new ImageContent(LlavaServicesFixture.ImageBytes(), mimeType: null);
        var fromBytes = await fx.Service.GetChatMessageContentAsync(ImageHistory(image: noMediaType), new LlavaPromptExecutionSettings { MaxTokens = 3 });
        Assert.Equal(expected.Text, fromBytes.Content);
    }

    [Fact]
    public async Task Both_paths_and_streaming_give_the_same_answer()
    {
        var settings = new LlavaPromptExecutionSettings { MaxTokens = 8 };
        var whole = await fx.Service.GetChatMessageContentAsync(ImageHistory(), settings);
        var chunks = new List<StreamingChatMessageContent>();
        await foreach (var chunk in fx.Service.GetStreamingChatMessageContentsAsync(ImageHistory(), settings)) chunks.Add(chunk);
        Assert.Equal(whole.Content, string.Concat(chunks.Select(c => c.Content)));
        Assert.Equal("length", chunks[^1].Metadata!["FinishReason"]);
        Assert.Equal(8, chunks[^1].Metadata!["CompletionTokens"]);

        var client = await fx.Client.GetResponseAsync([new(Microsoft.Extensions.AI.ChatRole.User,
            [new Microsoft.Extensions.AI.DataContent(LlavaServicesFixture.ImageBytes(), "image/png"), new Microsoft.Extensions.AI.TextContent(LlavaServicesFixture.Question)])],
            new Microsoft.Extensions.AI.ChatOptions { MaxOutputTokens = 8 });
        Assert.Equal(whole.Content, client.Text);
    }

    [Fact]
    public async Task Generic_settings_and_extension_data_are_honoured()
    {
        var generic = new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["max_tokens"] = "3" } };
        var answer = await fx.Service.GetChatMessageContentAsync(ImageHistory(), generic);
        Assert.Equal(fx.DirectQuestion(3).Text, answer.Content);
    }
}
