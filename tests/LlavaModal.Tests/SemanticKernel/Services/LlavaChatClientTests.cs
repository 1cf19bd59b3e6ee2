using LlavaModal.Decoder.Generation;
using LlavaModal.Tests.Multimodal;
using LlavaModal.Tokenizers.Chat;
using Microsoft.Extensions.AI;

namespace LlavaModal.Tests.SemanticKernel.Services;

[Collection(LlavaServicesCollection.Name)]
public class LlavaChatClientTests(LlavaServicesFixture fx)
{
    static ChatMessage ImageQuestion(string img = "img0") =>
        new(ChatRole.User, [new DataContent(LlavaServicesFixture.ImageBytes(img), LlavaServicesFixture.MediaType(img)), new TextContent(LlavaServicesFixture.Question)]);

    static GenerationResult Raw(ChatResponse response) => Assert.IsType<GenerationResult>(response.RawRepresentation);

    [Fact]
    public async Task An_image_question_gets_exactly_the_tokens_of_the_direct_generate_api()
    {
        var expected = fx.DirectQuestion(6);
        var response = await fx.Client.GetResponseAsync([ImageQuestion()], new ChatOptions { MaxOutputTokens = 6 });
        Assert.Equal(expected.GeneratedIds, Raw(response).GeneratedIds);
        Assert.Equal(expected.Text, response.Text);
        Assert.Equal(expected.PromptTokens, Raw(response).PromptTokens);
    }

    [Fact]
    public async Task The_answer_carries_model_id_finish_reason_and_usage()
    {
        var response = await fx.Client.GetResponseAsync([ImageQuestion()], new ChatOptions { MaxOutputTokens = 4 });
        var raw = Raw(response);
        Assert.Equal("llava-tiny-a", response.ModelId);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(raw.PromptTokens, response.Usage!.InputTokenCount);
        Assert.True(raw.PromptTokens > 576);
        Assert.Equal(4, response.Usage.OutputTokenCount);
        var message = Assert.Single(response.Messages);
        Assert.Equal(ChatRole.Assistant, message.Role);
        Assert.Equal("length", message.AdditionalProperties!["FinishReason"]);
        Assert.Equal(4, message.AdditionalProperties["CompletionTokens"]);
        Assert.Equal("llava-tiny-a", fx.Client.GetService<ChatClientMetadata>()!.DefaultModelId);
    }

    [Fact]
    public async Task Text_before_the_image_keeps_its_place()
    {
        var message = new ChatMessage(ChatRole.User, [new TextContent("Look:"), new DataContent(LlavaServicesFixture.ImageBytes(), "image/png"), new TextContent("What is it?")]);
        var expected = fx.Model.Generate(fx.Model.RenderChat([new(TurnRole.User, "Look:\n<image>\nWhat is it?")], [LlavaTinyFixture.ImageFile("img0")]), new GenerationOptions { MaxNewTokens = 4 });
        var response = await fx.Client.GetResponseAsync([message], new ChatOptions { MaxOutputTokens = 4 });
        Assert.Equal(expected.GeneratedIds, Raw(response).GeneratedIds);
    }

    [Fact]
    public async Task A_multi_turn_history_keeps_the_earlier_image_and_the_system_message()
    {
        ChatMessage[] history =
        [
            new(ChatRole.System, "You describe pictures."),
            ImageQuestion("img0"),
            new(ChatRole.Assistant, "A gradient."),
            new(ChatRole.User, [new TextContent("And this one?"), new DataContent(LlavaServicesFixture.ImageBytes("img2"), "image/png")]),
        ];
        var expected = fx.Direct(
            [new(TurnRole.System, "You describe pictures."), new(TurnRole.User, "<image>\nWhat is in the image?"), new(TurnRole.Assistant, "A gradient."), new(TurnRole.User, "And this one?\n<image>")],
            [LlavaTinyFixture.ImageFile("img0"), LlavaTinyFixture.ImageFile("img2")], new GenerationOptions { MaxNewTokens = 4 });
        var response = await fx.Client.GetResponseAsync(history, new ChatOptions { MaxOutputTokens = 4 });
        Assert.Equal(expected.GeneratedIds, Raw(response).GeneratedIds);
        Assert.Equal(expected.PromptTokens, Raw(response).PromptTokens);
        Assert.Equal(2 * 576, Raw(response).PromptTokens - Raw(response).PromptIds.Count + 2);
    }

    [Fact]
    public async Task Instructions_fill_the_system_slot_like_a_system_message()
    {
        var expected = fx.DirectQuestion(4, system: "Answer briefly.");
        var viaInstructions = await fx.Client.GetResponseAsync([ImageQuestion()], new ChatOptions { MaxOutputTokens = 4, Instructions = "Answer briefly." });
        var viaSystem = await fx.Client.GetResponseAsync([new ChatMessage(ChatRole.System, "Answer briefly."), ImageQuestion()], new ChatOptions { MaxOutputTokens = 4 });
        Assert.Equal(expected.GeneratedIds, Raw(viaInstructions).GeneratedIds);
        Assert.Equal(expected.GeneratedIds, Raw(viaSystem).GeneratedIds);
    }

    [Fact]
    public async Task A_data_uri_image_is_the_same_image()
    {
        var uri = $"data:image/png;base64,{Convert.ToBase64String(LlavaServicesFixture.ImageBytes())}";
        var message = new ChatMessage(ChatRole.User, [new DataContent(uri), new TextContent(LlavaServicesFixture.Question)]);
        var response = await fx.Client.GetResponseAsync([message], new ChatOptions { MaxOutputTokens = 4 });
        Assert.Equal(fx.DirectQuestion(4).GeneratedIds, Raw(response).GeneratedIds);
    }

    [Fact]
    public async Task Image_bytes_without_a_usable_media_type_are_recognised()
    {
        var message = new ChatMessage(ChatRole.User, [new DataContent(LlavaServicesFixture.ImageBytes("img1"), "application/octet-stream"), new TextContent(LlavaServicesFixture.Question)]);
        var response = await fx.Client.GetResponseAsync([message], new ChatOptions { MaxOutputTokens = 3 });
        Assert.Equal(fx.DirectQuestion(3, img: "img1").GeneratedIds, Raw(response).GeneratedIds);
    }

    [Fact]
    public async Task Streaming_concatenates_to_the_whole_answer_and_ends_with_usage()
    {
        var options = new ChatOptions { MaxOutputTokens = 8 };
        var whole = await fx.Client.GetResponseAsync([ImageQuestion()], options);
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in fx.Client.GetStreamingResponseAsync([ImageQuestion()], options)) updates.Add(update);
        Assert.True(updates.Count > 2);
        Assert.Equal(whole.Text, string.Concat(updates.Select(u => u.Text)));
        var last = updates[^1];
        Assert.Equal(whole.FinishReason, last.FinishReason);
        var usage = Assert.IsType<UsageContent>(Assert.Single(last.Contents)).Details;
        Assert.Equal(whole.Usage!.InputTokenCount, usage.InputTokenCount);
        Assert.Equal(whole.Usage.OutputTokenCount, usage.OutputTokenCount);
        Assert.All(updates, u => Assert.Equal("llava-tiny-a", u.ModelId));
        Assert.Single(updates.Select(u => u.ResponseId).Distinct());
        Assert.Equal(whole.Text, updates.ToChatResponse().Text);
    }

    [Fact]
    public async Task Cancellation_stops_generation_promptly()
    {
        using var cts = new CancellationTokenSource();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in fx.Client.GetStreamingResponseAsync([ImageQuestion()], new ChatOptions { MaxOutputTokens = 2000 }, cts.Token))
                if (++seen == 2) cts.Cancel();
        });
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");

        using var early = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        clock.Restart();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fx.Client.GetResponseAsync([ImageQuestion()], new ChatOptions { MaxOutputTokens = 2000 }, early.Token));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task A_burst_of_32_concurrent_requests_answers_as_sequential_calls_do()
    {
        string[] images = ["img0", "img1", "img2", "img3"];
        ChatMessage Request(int i) => new(ChatRole.User, [new DataContent(LlavaServicesFixture.ImageBytes(images[i % 4]), LlavaServicesFixture.MediaType(images[i % 4])), new TextContent($"Question {i}?")]);
        var options = new ChatOptions { MaxOutputTokens = 4 };
        var sequential = new List<IReadOnlyList<int>>();
        for (int i = 0; i < 4; i++) sequential.Add(Raw(await fx.Client.GetResponseAsync([Request(i)], options)).GeneratedIds);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var burst = await Task.WhenAll(Enumerable.Range(0, 32).Select(i => Task.Run(() => fx.Client.GetResponseAsync([Request(i)], options))));
        for (int i = 0; i < 32; i++)
        {
            if (i >= 4) sequential.Add(Raw(await fx.Client.GetResponseAsync([Request(i)], options)).GeneratedIds);
            Assert.Equal(sequential[i], Raw(burst[i]).GeneratedIds);
        }
        Console.WriteLine($"burst of 32: {clock.ElapsedMilliseconds} ms");
    }
}
