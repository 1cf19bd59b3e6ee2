using System.ClientModel;
using System.Text;
using LlavaModal.Tests.SemanticKernel;
using Microsoft.Extensions.AI;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using OpenAI;
using OpenAI.Chat;
using MeaiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using MeaiChatRole = Microsoft.Extensions.AI.ChatRole;
using MeaiTextContent = Microsoft.Extensions.AI.TextContent;
using OpenAiFinish = OpenAI.Chat.ChatFinishReason;

namespace LlavaModal.Tests.Server;

/// <summary>Real clients against the server: the official OpenAI .NET library and Semantic Kernel's OpenAI connector.</summary>
[Collection(ServerCollection.Name)]
public class OpenAiClientTests(ServerFixture fx)
{
    const string Question = "What is in this image?";

    ChatClient OpenAiChat(string? key = ServerFixture.Key) =>
        new(fx.ModelId, new ApiKeyCredential(key ?? "none"), new OpenAIClientOptions { Endpoint = fx.V1 });

    async Task<(string Text, long PromptTokens, long CompletionTokens)> DirectAnswer(string img, int maxTokens)
    {
        var response = await fx.DirectClient.GetResponseAsync(
            [new MeaiChatMessage(MeaiChatRole.User, [new DataContent(LlavaServicesFixture.ImageBytes(img), LlavaServicesFixture.MediaType(img)), new MeaiTextContent(Question)])],
            new ChatOptions { MaxOutputTokens = maxTokens });
        return (response.Text, response.Usage!.InputTokenCount!.Value, response.Usage.OutputTokenCount!.Value);
    }

    [Fact]
    public async Task The_official_OpenAI_client_gets_the_in_process_answer_token_for_token()
    {
        var expected = await DirectAnswer("img0", 12);
        var completion = (await OpenAiChat().CompleteChatAsync(
            [new UserChatMessage(ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(LlavaServicesFixture.ImageBytes("img0")), "image/png"), ChatMessageContentPart.CreateTextPart(Question))],
            new ChatCompletionOptions { MaxOutputTokenCount = 12 })).Value;

        Assert.Equal(expected.Text, completion.Content[0].Text);
        Assert.Equal(expected.PromptTokens, completion.Usage.InputTokenCount);
        Assert.Equal(expected.CompletionTokens, completion.Usage.OutputTokenCount);
        Assert.Equal(fx.ModelId, completion.Model);
        Assert.Equal(expected.CompletionTokens == 12 ? OpenAiFinish.Length : OpenAiFinish.Stop, completion.FinishReason);
    }

    [Fact]
    public async Task A_json_schema_response_format_from_the_official_client_is_followed()
    {
        const string schema = """{"type":"object","properties":{"animal":{"type":"string","maxLength":10},"legs":{"type":"integer","minimum":0,"maximum":8}},"required":["animal","legs"],"additionalProperties":false}""";
        for (int seed = 0; seed < 3; seed++)
        {
#pragma warning disable OPENAI001 // Seed is marked experimental by the client library; the server honours it.
            var options = new ChatCompletionOptions
            {
                MaxOutputTokenCount = 40, Temperature = 1, Seed = seed,
                ResponseFormat = OpenAI.Chat.ChatResponseFormat.CreateJsonSchemaFormat("animal", BinaryData.FromString(schema), jsonSchemaIsStrict: true),
            };
#pragma warning restore OPENAI001
            var completion = (await OpenAiChat().CompleteChatAsync(
                [new UserChatMessage(ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(LlavaServicesFixture.ImageBytes("img0")), "image/png"), ChatMessageContentPart.CreateTextPart(Question))],
                options)).Value;
            Assert.True(Decoder.Constraints.OutputGrammarTests.Validates(schema, completion.Content[0].Text), completion.Content[0].Text);
        }
    }

    [Fact]
    public async Task Concurrent_clients_are_decoded_together_and_each_gets_its_lone_answer()
    {
        var requests = new[] { ("img0", 14), ("img2", 6), ("img3", 20), ("img4", 9), ("img0", 3), ("img2", 17) };
        var expected = new List<(string Text, long PromptTokens, long CompletionTokens)>();
        foreach (var (img, max) in requests) expected.Add(await DirectAnswer(img, max));

        var engine = fx.Served.Engine;
        long most = 0;
        engine.StepLogitsObserver = l => most = Math.Max(most, l.shape[0]);
        try
        {
            Task<ClientResult<ChatCompletion>>[] answers;
            using (LlavaModal.Tests.Support.EngineHold.On(engine))
            {
                answers = requests.Select(r => OpenAiChat().CompleteChatAsync(
                    [new UserChatMessage(ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(LlavaServicesFixture.ImageBytes(r.Item1)), LlavaServicesFixture.MediaType(r.Item1)), ChatMessageContentPart.CreateTextPart(Question))],
                    new ChatCompletionOptions { MaxOutputTokenCount = r.Item2 })).ToArray();
                // Every request is queued behind the held worker before any is admitted.
                for (int i = 0; i < 600 && fx.Served.WaitingRequests < requests.Length; i++) await Task.Delay(50);
                Assert.Equal(requests.Length, fx.Served.WaitingRequests);
            }
            var completions = await Task.WhenAll(answers);
            for (int i = 0; i < requests.Length; i++)
            {
                Assert.Equal(expected[i].Text, completions[i].Value.Content[0].Text);
                Assert.Equal(expected[i].CompletionTokens, completions[i].Value.Usage.OutputTokenCount);
            }
        }
        finally { engine.StepLogitsObserver = null; }
        // Decoded together: prompts longer than a prefill piece join between steps, while the shortest answers may be done.
        Assert.InRange(most, 2, requests.Length);
    }

    [Fact]
    public async Task Streaming_through_the_OpenAI_client_concatenates_to_the_same_answer_and_reports_usage()
    {
        var expected = await DirectAnswer("img2", 10);
        var text = new StringBuilder();
        ChatTokenUsage? usage = null;
        OpenAiFinish? finish = null;
        await foreach (var update in OpenAiChat().CompleteChatStreamingAsync(
            [new UserChatMessage(ChatMessageContentPart.CreateImagePart(new Uri(ServerFixture.ImageDataUri("img2"))), ChatMessageContentPart.CreateTextPart(Question))],
            new ChatCompletionOptions { MaxOutputTokenCount = 10 }))
        {
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            usage ??= update.Usage;
            finish ??= update.FinishReason;
        }
        Assert.Equal(expected.Text, text.ToString());
        Assert.NotNull(finish);
        Assert.NotNull(usage);
        Assert.Equal(expected.PromptTokens, usage.InputTokenCount);
        Assert.Equal(expected.CompletionTokens, usage.OutputTokenCount);
    }

    [Fact]
    public async Task A_wrong_key_is_refused_with_401_in_OpenAI_s_shape()
    {
        var e = await Assert.ThrowsAsync<ClientResultException>(() => OpenAiChat("wrong").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(401, e.Status);
        Assert.Contains("API key", e.Message);
    }

#pragma warning disable SKEXP0010 // the OpenAI connector's custom endpoint is marked experimental
    [Fact]
    public async Task Semantic_Kernel_s_OpenAI_connector_sends_an_image_in_a_ChatHistory_and_gets_the_in_process_answer()
    {
        var expected = await DirectAnswer("img1", 8);
        var kernel = Kernel.CreateBuilder().AddOpenAIChatCompletion(fx.ModelId, fx.V1, ServerFixture.Key).Build();
        var history = new ChatHistory();
        history.AddUserMessage([new ImageContent(LlavaServicesFixture.ImageBytes("img1"), "image/jpeg"), new Microsoft.SemanticKernel.TextContent(Question)]);
        var answer = await kernel.GetRequiredService<IChatCompletionService>().GetChatMessageContentAsync(history,
            new Microsoft.SemanticKernel.Connectors.OpenAI.OpenAIPromptExecutionSettings { MaxTokens = 8 });
        Assert.Equal(expected.Text, answer.Content);
    }
#pragma warning restore SKEXP0010
}
