using LlavaModal.Abstractions;
using LlavaModal.Multimodal;
using LlavaModal.SemanticKernel.Services;
using LlavaModal.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using MEAI = Microsoft.Extensions.AI;

namespace LlavaModal.Tests.SemanticKernel.Extensions;

public class RegistrationTests
{
    [Fact]
    public async Task One_line_on_the_kernel_builder_registers_a_chat_service_sharing_one_model_with_the_chat_client()
    {
        var builder = Kernel.CreateBuilder().AddLlavaChatCompletion(Fixtures.LlavaTinyA).AddLlavaChatClient(Fixtures.LlavaTinyA);
        var kernel = builder.Build();
        var service = Assert.IsType<LlavaChatCompletionService>(kernel.GetRequiredService<IChatCompletionService>());
        var client = kernel.GetRequiredService<MEAI.IChatClient>();
        Assert.Same(service.Client, client);
        Assert.False(kernel.Services.GetRequiredService<LlavaChatClient>() is { } c && c != client);

        var history = new ChatHistory();
        history.AddUserMessage("Hello");
        var answer = await service.GetChatMessageContentAsync(history, new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["max_tokens"] = 2 } });
        Assert.Equal(2, ((MEAI.UsageDetails)answer.Metadata!["Usage"]!).OutputTokenCount);
        Assert.Same(kernel.GetRequiredService<MultimodalModel>(), service.Client.Model);
    }

    [Fact]
    public void Service_ids_key_the_registrations_and_share_the_model()
    {
        var services = new ServiceCollection();
        services.AddLlavaChatCompletion(Fixtures.LlavaTinyA, "vision").AddLlavaChatClient(o => o.ModelDirectory = Fixtures.LlavaTinyA, "vision-client");
        using var provider = services.BuildServiceProvider();
        Assert.Null(provider.GetService<IChatCompletionService>());
        var service = Assert.IsType<LlavaChatCompletionService>(provider.GetRequiredKeyedService<IChatCompletionService>("vision"));
        var client = Assert.IsType<LlavaChatClient>(provider.GetRequiredKeyedService<MEAI.IChatClient>("vision-client"));
        Assert.NotSame(service.Client, client);
        Assert.Same(service.Client.Model, client.Model);
    }

    [Fact]
    public void The_model_loads_at_first_use_by_default_and_at_resolution_when_eager()
    {
        var services = new ServiceCollection();
        services.AddLlavaChatClient("/nonexistent/llava-folder");
        using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<MEAI.IChatClient>();
        Assert.Equal("llava-folder", ((MEAI.ChatClientMetadata)client.GetService(typeof(MEAI.ChatClientMetadata))!).DefaultModelId);

        var eager = new ServiceCollection();
        eager.AddLlavaChatClient(o => { o.ModelDirectory = "/nonexistent/llava-folder"; o.LoadEagerly = true; });
        using var eagerProvider = eager.BuildServiceProvider();
        var e = Assert.Throws<CheckpointException>(() => eagerProvider.GetRequiredService<MEAI.IChatClient>());
        Assert.Contains("model folder not found", e.Message);
    }

    [Fact]
    public async Task A_bad_model_directory_fails_at_first_use_with_the_loaders_error()
    {
        using var dir = new TempDir();
        File.Copy(Path.Combine(Fixtures.LlavaTinyA, "config.json"), dir.File("config.json"));
        var kernel = Kernel.CreateBuilder().AddLlavaChatCompletion(dir.Path).Build();
        var e = await Assert.ThrowsAsync<CheckpointException>(() => kernel.InvokePromptAsync("Hi"));
        Assert.Contains("no weights", e.Message);
        Assert.Contains(dir.Path, e.Message);
        // Not cached as a stale wrapper: the same clear error again.
        var again = await Assert.ThrowsAsync<CheckpointException>(() => kernel.InvokePromptAsync("Hi"));
        Assert.Equal(e.Message, again.Message);
    }

    [Fact]
    public void Two_model_folders_in_one_container_are_refused()
    {
        var services = new ServiceCollection();
        services.AddLlavaChatCompletion(Fixtures.LlavaTinyA, "a").AddLlavaChatCompletion(Fixtures.LlamaTiny, "b");
        using var provider = services.BuildServiceProvider();
        var e = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredKeyedService<IChatCompletionService>("b"));
        Assert.Contains("To serve several models from one container, name each", e.Message);
    }
}
