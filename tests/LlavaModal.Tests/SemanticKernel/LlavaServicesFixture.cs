using LlavaModal.Abstractions.Modality;
using LlavaModal.Decoder.Generation;
using LlavaModal.Multimodal;
using LlavaModal.Tests.Multimodal;
using LlavaModal.Tests.Support;
using LlavaModal.Tokenizers.Chat;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel.ChatCompletion;

namespace LlavaModal.Tests.SemanticKernel;

/// <summary>
/// One container with the tiny LLaVA fixture behind both registrations (IChatClient and IChatCompletionService),
/// and the direct generate API on the same model for expected answers.
/// </summary>
public sealed class LlavaServicesFixture : IDisposable
{
    public const string Question = "What is in the image?";

    public LlavaServicesFixture()
    {
        var services = new ServiceCollection();
        services.AddSingleton<Microsoft.Extensions.Logging.ILoggerFactory>(Logs);
        services.AddLlavaChatCompletion(Fixtures.LlavaTinyA).AddLlavaChatClient(Fixtures.LlavaTinyA);
        Provider = services.BuildServiceProvider();
        Client = Provider.GetRequiredService<Microsoft.Extensions.AI.IChatClient>();
        Service = Provider.GetRequiredService<IChatCompletionService>();
        Model = Provider.GetRequiredService<MultimodalModel>();
    }

    public ServiceProvider Provider { get; }
    public Microsoft.Extensions.AI.IChatClient Client { get; }
    public IChatCompletionService Service { get; }
    public MultimodalModel Model { get; }
    public ListLoggerProvider Logs { get; } = new();

    public static byte[] ImageBytes(string img = "img0") => File.ReadAllBytes(Path.Combine(Fixtures.Images, LlavaTinyFixture.ImageFiles[img]));
    public static string MediaType(string img = "img0") => MediaTypes.FromExtension(Path.GetExtension(LlavaTinyFixture.ImageFiles[img]))!;

    /// <summary>The direct API's answer: the chat template with LLaVA's own image-first layout.</summary>
    public GenerationResult Direct(IReadOnlyList<ChatTurn> messages, IReadOnlyList<ModalityInput> images, GenerationOptions options) =>
        Model.Generate(Model.RenderChat(messages, images), options);

    public GenerationResult DirectQuestion(int maxNewTokens, string? system = null, string img = "img0")
    {
        var messages = new List<ChatTurn>();
        if (system is not null) messages.Add(new(TurnRole.System, system));
        messages.Add(new(TurnRole.User, Question));
        return Direct(messages, [LlavaTinyFixture.ImageFile(img)], new GenerationOptions { MaxNewTokens = maxNewTokens });
    }

    public void Dispose() => Provider.Dispose();
}

[CollectionDefinition(Name)]
public sealed class LlavaServicesCollection : ICollectionFixture<LlavaServicesFixture>
{
    public const string Name = "LLaVA services";
}
