using LlavaModal.Multimodal;
using LlavaModal.Multimodal.DependencyInjection;
using LlavaModal.SemanticKernel.Services;
using LlavaModal.Tests.Support;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.SemanticKernel.ChatCompletion;

namespace LlavaModal.Tests.SemanticKernel.Extensions;

/// <summary>The chat services as hosts register them: from configuration, with middleware, several models, async loading, event ids.</summary>
public class HostingTests
{
    static ChatOptions WithTool() => new() { MaxOutputTokens = 2, Tools = [AIFunctionFactory.Create(() => "sunny", "weather")] };

    [Fact]
    public async Task Client_options_come_from_configuration_and_follow_its_changes()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["LlavaChat:ModelDirectory"] = Fixtures.LlavaTinyA,
            ["LlavaChat:RejectTools"] = "false",
        }).Build();
        var services = new ServiceCollection();
        services.AddLlavaChatClient(config.GetSection("LlavaChat"));
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IChatClient>();

        var answer = await client.GetResponseAsync("Hello", WithTool());   // tools ignored, the model answers
        Assert.Equal(2, answer.Usage!.OutputTokenCount);

        config["LlavaChat:RejectTools"] = "true";
        config.Reload();
        var e = await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync("Hello", WithTool()));
        Assert.Contains("RejectTools", e.Message);
        Assert.Same(client, provider.GetRequiredService<IChatClient>());   // the same client, reading the options anew
    }

    [Fact]
    public async Task The_registration_returns_the_pipeline_for_middleware()
    {
        var calls = 0;
        var logs = new ListLoggerProvider();
        var services = new ServiceCollection();
        services.AddSingleton<ILoggerFactory>(logs);
        services.AddLlavaChatClient(Fixtures.LlavaTinyA)
            .UseLogging()
            .Use(async (messages, options, next, cancellation) => { Interlocked.Increment(ref calls); await next(messages, options, cancellation); });
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IChatClient>();

        Assert.IsNotType<LlavaChatClient>(client);
        Assert.IsType<LlavaChatClient>(client.GetService(typeof(LlavaChatClient)));
        var answer = await client.GetResponseAsync("Hello", new ChatOptions { MaxOutputTokens = 2 });
        Assert.Equal(2, answer.Usage!.OutputTokenCount);
        Assert.Equal(1, calls);
        Assert.Contains(logs.Entries, e => e.Category.Contains("LoggingChatClient", StringComparison.Ordinal));   // UseLogging's own messages
        Assert.Contains(logs.Entries, e => e.EventId == LlavaModalLogEvents.ChatAnswered && e.Message.Contains("2 completion tokens"));
        Assert.Contains(logs.Entries, e => e.EventId == LlavaModalLogEvents.ChatModelReady);
    }

    [Fact]
    public async Task Keyed_pipelines_and_named_models_serve_several_models_from_one_container()
    {
        var services = new ServiceCollection();
        services.AddLlavaModal("llava", o => o.ModelDirectory = Fixtures.LlavaTinyA);
        services.AddLlavaChatClient(o => o.ModelName = "llava", serviceId: "vision").Use(inner => new TaggingClient(inner, "vision"));
        services.AddLlavaChatClient(o => { o.ModelName = "llama"; o.ModelDirectory = Fixtures.LlamaTiny; }, serviceId: "text");   // registers the "llama" model itself
        services.AddLlavaChatCompletion(o => o.ModelName = "llama", serviceId: "text-sk");
        await using var provider = services.BuildServiceProvider();

        var vision = provider.GetRequiredKeyedService<IChatClient>("vision");
        var text = provider.GetRequiredKeyedService<IChatClient>("text");
        Assert.Equal("llava-tiny-a", (await vision.GetResponseAsync("Hi", new ChatOptions { MaxOutputTokens = 1 })).ModelId + "");
        Assert.Equal("vision", (await vision.GetResponseAsync("Hi", new ChatOptions { MaxOutputTokens = 1 })).AdditionalProperties?["tag"]);
        var textAnswer = await text.GetResponseAsync("Hi", new ChatOptions { MaxOutputTokens = 3 });
        Assert.Equal("llama-tiny", textAnswer.ModelId);
        Assert.Same(provider.GetRequiredKeyedService<MultimodalModel>("llama"), ((LlavaChatClient)text.GetService(typeof(LlavaChatClient))!).Model);
        var sk = (LlavaChatCompletionService)provider.GetRequiredKeyedService<IChatCompletionService>("text-sk");
        Assert.Same(provider.GetRequiredKeyedService<MultimodalModel>("llama"), sk.Client.Model);
        Assert.Null(provider.GetService<MultimodalModel>());   // no default model was asked for
    }

    [Fact]
    public async Task LoadAsync_loads_before_the_first_request_and_a_bad_folder_fails_it()
    {
        var services = new ServiceCollection();
        services.AddLlavaChatClient(Fixtures.LlavaTinyA);
        services.AddLlavaChatClient("/nonexistent/model-folder", serviceId: "bad");
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<LlavaChatClient>();
        var model = await client.LoadAsync();
        Assert.Same(model, provider.GetRequiredService<MultimodalModel>());

        // "bad" asks for another folder than the default model's: named models are the way, and the error says so.
        var e = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredKeyedService<IChatClient>("bad"));
        Assert.Contains("ModelName", e.Message);
    }

    sealed class TaggingClient(IChatClient inner, string tag) : DelegatingChatClient(inner)
    {
        public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            var response = await base.GetResponseAsync(messages, options, cancellationToken);
            (response.AdditionalProperties ??= [])["tag"] = tag;
            return response;
        }
    }
}
