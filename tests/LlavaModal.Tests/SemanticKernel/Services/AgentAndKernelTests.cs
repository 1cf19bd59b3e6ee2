using System.ComponentModel;
using LlavaModal.Decoder.Generation;
using LlavaModal.SemanticKernel.Services;
using LlavaModal.SemanticKernel.Settings;
using LlavaModal.Tests.Support;
using Microsoft.Agents.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using MEAI = Microsoft.Extensions.AI;

namespace LlavaModal.Tests.SemanticKernel.Services;

/// <summary>The paths real agents take: Agent Framework's ChatClientAgent, and a Kernel selecting our service the way SK's ChatCompletionAgent does.</summary>
[Collection(LlavaServicesCollection.Name)]
public class AgentAndKernelTests(LlavaServicesFixture fx)
{
    const string Instructions = "You are an assistant that describes images.";

    static MEAI.ChatMessage ImageQuestion() =>
        new(MEAI.ChatRole.User, [new MEAI.DataContent(LlavaServicesFixture.ImageBytes(), "image/png"), new MEAI.TextContent(LlavaServicesFixture.Question)]);

    [Fact]
    public async Task A_ChatClientAgent_asked_about_an_image_answers_with_the_direct_tokens()
    {
        var expected = fx.DirectQuestion(6, system: Instructions);
        var agent = new ChatClientAgent(fx.Client, instructions: Instructions, name: "Describer");
        var response = await agent.RunAsync(ImageQuestion(), options: new ChatClientAgentRunOptions(new MEAI.ChatOptions { MaxOutputTokens = 6 }));
        Assert.Equal(expected.Text, response.Text);
        var chat = Assert.IsType<MEAI.ChatResponse>(response.RawRepresentation);
        Assert.Equal(expected.GeneratedIds, Assert.IsType<GenerationResult>(chat.RawRepresentation).GeneratedIds);

        var streamed = new List<string>();
        await foreach (var update in agent.RunStreamingAsync(ImageQuestion(), options: new ChatClientAgentRunOptions(new MEAI.ChatOptions { MaxOutputTokens = 6 })))
            streamed.Add(update.Text);
        Assert.Equal(expected.Text, string.Concat(streamed));
    }

    [Fact]
    public async Task A_kernel_selects_our_service_by_id_among_others_and_answers_a_prompt()
    {
        var builder = Kernel.CreateBuilder();
        builder.Services.AddKeyedSingleton<IChatCompletionService>("other", new ThrowingChatService());
        builder.AddLlavaChatCompletion(Fixtures.LlavaTinyA, serviceId: "llava");
        var kernel = builder.Build();

        var settings = new LlavaPromptExecutionSettings { ServiceId = "llava", MaxTokens = 4 };
        var result = await kernel.InvokePromptAsync("Say hello.", new KernelArguments(settings));
        var expected = fx.Direct([new(LlavaModal.Tokenizers.Chat.TurnRole.User, "Say hello.")], [], new GenerationOptions { MaxNewTokens = 4 });
        Assert.Equal(expected.Text, result.GetValue<string>());
        Assert.Equal("length", result.Metadata!["FinishReason"]);
        Assert.Equal("llava-tiny-a", Microsoft.SemanticKernel.Services.AIServiceExtensions.GetModelId(kernel.GetRequiredService<IChatCompletionService>("llava")));
    }

    [Fact]
    public async Task The_ChatCompletionAgent_path_instructions_as_system_message_with_a_function_choice_behavior_and_an_image()
    {
        var builder = Kernel.CreateBuilder();
        builder.Services.AddSingleton<ILoggerFactory>(fx.Logs);
        builder.AddLlavaChatCompletion(Fixtures.LlavaTinyA);
        builder.Plugins.AddFromType<ClockPlugin>();
        var kernel = builder.Build();

        // What ChatCompletionAgent does: instructions first as a system message, then the thread, through the kernel's selector.
        var history = new ChatHistory(Instructions);
        history.AddUserMessage([new ImageContent(LlavaServicesFixture.ImageBytes(), "image/png"), new TextContent(LlavaServicesFixture.Question)]);
        var settings = new PromptExecutionSettings { FunctionChoiceBehavior = FunctionChoiceBehavior.Auto(), ExtensionData = new Dictionary<string, object> { ["max_tokens"] = 6 } };
        Assert.True(kernel.ServiceSelector.TrySelectAIService<IChatCompletionService>(kernel, KernelFunctionFactory.CreateFromPrompt("x"), new KernelArguments(settings), out var service, out _));
        Assert.IsType<LlavaChatCompletionService>(service);

        var answer = await service.GetChatMessageContentAsync(history, settings, kernel);
        Assert.Equal(fx.DirectQuestion(6, system: Instructions).Text, answer.Content);
        Assert.Contains(fx.Logs.Messages(LogLevel.Warning), m => m.Contains("ignoring 1 tool") && m.Contains("Now"));

        // The same image question through InvokePromptAsync's chat prompt syntax.
        var prompt = $"""
            <message role="system">{Instructions}</message>
            <message role="user"><image>data:image/png;base64,{Convert.ToBase64String(LlavaServicesFixture.ImageBytes())}</image><text>{LlavaServicesFixture.Question}</text></message>
            """;
        var viaPrompt = await kernel.InvokePromptAsync(prompt, new KernelArguments(settings));
        Assert.Equal(answer.Content, viaPrompt.GetValue<string>());
    }

    [Fact]
    public async Task Strict_tool_handling_turns_offered_functions_into_a_clear_error()
    {
        var builder = Kernel.CreateBuilder();
        builder.AddLlavaChatCompletion(o => { o.ModelDirectory = Fixtures.LlavaTinyA; o.RejectTools = true; });
        builder.Plugins.AddFromType<ClockPlugin>();
        var kernel = builder.Build();
        var settings = new PromptExecutionSettings { FunctionChoiceBehavior = FunctionChoiceBehavior.Auto() };
        var e = await Assert.ThrowsAsync<NotSupportedException>(() => kernel.InvokePromptAsync("What time is it?", new KernelArguments(settings)));
        Assert.Contains("cannot call functions", e.Message);
        Assert.Contains("Now", e.Message);
    }

    public sealed class ClockPlugin
    {
        [KernelFunction, Description("The current time.")]
        public string Now() => DateTime.UtcNow.ToString("O");
    }

    sealed class ThrowingChatService : IChatCompletionService
    {
        public IReadOnlyDictionary<string, object?> Attributes { get; } = new Dictionary<string, object?>();
        public Task<IReadOnlyList<ChatMessageContent>> GetChatMessageContentsAsync(ChatHistory chatHistory, PromptExecutionSettings? executionSettings = null, Kernel? kernel = null, CancellationToken cancellationToken = default) =>
            throw new InvalidOperationException("the wrong service was selected");
        public IAsyncEnumerable<StreamingChatMessageContent> GetStreamingChatMessageContentsAsync(ChatHistory chatHistory, PromptExecutionSettings? executionSettings = null, Kernel? kernel = null, CancellationToken cancellationToken = default) =>
            throw new InvalidOperationException("the wrong service was selected");
    }
}
