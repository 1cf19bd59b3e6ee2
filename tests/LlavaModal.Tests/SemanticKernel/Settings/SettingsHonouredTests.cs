using LlavaModal.Decoder.Generation;
using LlavaModal.SemanticKernel.Settings;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using MEAI = Microsoft.Extensions.AI;

namespace LlavaModal.Tests.SemanticKernel.Settings;

/// <summary>Settings reach the model: the answers equal the direct API's with the same generation options.</summary>
[Collection(LlavaServicesCollection.Name)]
public class SettingsHonouredTests(LlavaServicesFixture fx)
{
    static ChatHistory Question()
    {
        var history = new ChatHistory();
        history.AddUserMessage([new ImageContent(LlavaServicesFixture.ImageBytes(), "image/png"), new TextContent(LlavaServicesFixture.Question)]);
        return history;
    }

    GenerationResult Direct(GenerationOptions options) =>
        fx.Direct([new(LlavaModal.Tokenizers.Chat.TurnRole.User, LlavaServicesFixture.Question)], [LlavaModal.Tests.Multimodal.LlavaTinyFixture.ImageFile("img0")], options);

    [Fact]
    public async Task Seeded_sampling_is_reproducible_and_equals_the_direct_api_on_both_paths()
    {
        var sampled = new GenerationOptions { MaxNewTokens = 6, Temperature = 1.5f, TopK = 50, TopP = 0.95f, MinP = 0.01f, RepetitionPenalty = 1.1f, Seed = 1234 };
        var expected = Direct(sampled);
        var settings = new LlavaPromptExecutionSettings { MaxTokens = 6, Temperature = 1.5f, TopK = 50, TopP = 0.95f, MinP = 0.01f, RepetitionPenalty = 1.1f, Seed = 1234 };
        var first = await fx.Service.GetChatMessageContentAsync(Question(), settings);
        var second = await fx.Service.GetChatMessageContentAsync(Question(), settings);
        Assert.Equal(expected.Text, first.Content);
        Assert.Equal(first.Content, second.Content);

        var streamed = new List<string>();
        await foreach (var chunk in fx.Service.GetStreamingChatMessageContentsAsync(Question(), settings)) streamed.Add(chunk.Content ?? "");
        Assert.Equal(expected.Text, string.Concat(streamed));

        var viaClient = await fx.Client.GetResponseAsync([new(MEAI.ChatRole.User, [new MEAI.DataContent(LlavaServicesFixture.ImageBytes(), "image/png"), new MEAI.TextContent(LlavaServicesFixture.Question)])],
            new MEAI.ChatOptions { MaxOutputTokens = 6, Temperature = 1.5f, TopK = 50, TopP = 0.95f, Seed = 1234, AdditionalProperties = new() { ["min_p"] = 0.01, ["repetition_penalty"] = "1.1" } });
        Assert.Equal(expected.Text, viaClient.Text);

        var otherSeed = Direct(sampled with { Seed = 99, MaxNewTokens = 12 });
        Assert.NotEqual(Direct(sampled with { MaxNewTokens = 12 }).Text, otherSeed.Text);
    }

    [Fact]
    public async Task Max_tokens_and_stop_sequences_are_honoured()
    {
        var greedy = Direct(new GenerationOptions { MaxNewTokens = 8 });
        var four = await fx.Service.GetChatMessageContentAsync(Question(), new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["max_tokens"] = 4 } });
        Assert.Equal(4, ((MEAI.UsageDetails)four.Metadata!["Usage"]!).OutputTokenCount);

        // Stop on a piece of the greedy answer: the answer is cut before it and ends as "stop".
        var stop = greedy.Text.Trim().Length >= 4 ? greedy.Text.Trim().Substring(2, 2) : greedy.Text.Trim();
        var expected = Direct(new GenerationOptions { MaxNewTokens = 8, StopStrings = [stop] });
        var stopped = await fx.Service.GetChatMessageContentAsync(Question(), new LlavaPromptExecutionSettings { MaxTokens = 8, StopSequences = [stop] });
        Assert.Equal(expected.Text, stopped.Content);
        Assert.DoesNotContain(stop, stopped.Content);
        Assert.Equal("stop", stopped.Metadata!["FinishReason"]);

        var streamed = new List<string>();
        await foreach (var chunk in fx.Service.GetStreamingChatMessageContentsAsync(Question(), new LlavaPromptExecutionSettings { MaxTokens = 8, StopSequences = [stop] })) streamed.Add(chunk.Content ?? "");
        Assert.Equal(expected.Text, string.Concat(streamed));
    }
}
