using LlavaModal.Multimodal;
using Microsoft.Extensions.Logging;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using Microsoft.SemanticKernel.Services;

namespace LlavaModal.SemanticKernel.Services;

/// <summary>
/// Semantic Kernel chat completion over a local LLaVA model: a <see cref="ChatHistory"/> with text and images in,
/// a <see cref="ChatMessageContent"/> (model id, finish reason and token usage in its metadata) or streamed
/// <see cref="StreamingChatMessageContent"/> out. It is the <see cref="LlavaChatClient"/> seen through Semantic
/// Kernel's own adapter, so both behave identically. Settings: <see cref="Settings.LlavaPromptExecutionSettings"/>
/// or any <see cref="PromptExecutionSettings"/>.
/// </summary>
public sealed class LlavaChatCompletionService : IChatCompletionService
{
    readonly IChatCompletionService inner;

    /// <summary>A service over a chat client (shared with it).</summary>
    /// <param name="client">The client that does the work.</param>
    /// <param name="serviceProvider">Passed to Semantic Kernel's adapter (optional).</param>
    public LlavaChatCompletionService(LlavaChatClient client, IServiceProvider? serviceProvider = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        Client = client;
        inner = client.AsChatCompletionService(serviceProvider);
        Attributes = new Dictionary<string, object?> { [AIServiceExtensions.ModelIdKey] = client.ModelId };
    }

    /// <summary>A service over a model you loaded (and dispose yourself).</summary>
    public LlavaChatCompletionService(MultimodalModel model, LlavaChatClientOptions? options = null, ILoggerFactory? loggerFactory = null)
        : this(new LlavaChatClient(model, options, loggerFactory)) { }

    /// <summary>The underlying chat client.</summary>
    public LlavaChatClient Client { get; }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, object?> Attributes { get; }

    /// <inheritdoc />
    public Task<IReadOnlyList<ChatMessageContent>> GetChatMessageContentsAsync(ChatHistory chatHistory, PromptExecutionSettings? executionSettings = null, Kernel? kernel = null, CancellationToken cancellationToken = default) =>
        inner.GetChatMessageContentsAsync(HistoryMediaTypes.Complete(chatHistory), executionSettings, kernel, cancellationToken);

    /// <inheritdoc />
    public IAsyncEnumerable<StreamingChatMessageContent> GetStreamingChatMessageContentsAsync(ChatHistory chatHistory, PromptExecutionSettings? executionSettings = null, Kernel? kernel = null, CancellationToken cancellationToken = default) =>
        inner.GetStreamingChatMessageContentsAsync(HistoryMediaTypes.Complete(chatHistory), executionSettings, kernel, cancellationToken);
}
