using System.Diagnostics;
using System.Runtime.CompilerServices;
using LlavaModal.Decoder.Generation;
using LlavaModal.Multimodal;
using LlavaModal.SemanticKernel.Settings;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LlavaModal.SemanticKernel.Services;

/// <summary>
/// A Microsoft.Extensions.AI <see cref="IChatClient"/> over a local LLaVA (or any <see cref="MultimodalModel"/>):
/// text, images and registered media in, the answer out, whole or streamed. Semantic Kernel reaches it through
/// <see cref="LlavaChatCompletionService"/>, Microsoft Agent Framework directly (<c>ChatClientAgent</c>).
/// Thread-safe: concurrent requests are decoded together by the model's continuous batching.
/// </summary>
public sealed class LlavaChatClient : IChatClient
{
    /// <summary>Keys of the answer's <see cref="ChatMessage.AdditionalProperties"/> (Semantic Kernel: <c>Metadata</c>).</summary>
    public static class MetadataKeys
    {
        /// <summary><c>stop</c> or <c>length</c>.</summary>
        public const string FinishReason = "FinishReason";
        /// <summary>Prompt positions the model saw, media included.</summary>
        public const string PromptTokens = "PromptTokens";
        /// <summary>Generated tokens.</summary>
        public const string CompletionTokens = "CompletionTokens";
        /// <summary>The <see cref="UsageDetails"/> (Semantic Kernel's <c>ChatMessageContent.Metadata["Usage"]</c> uses the same key).</summary>
        public const string Usage = "Usage";
    }

    readonly LlavaModelHost host;
    // Read at every request: registered clients see configuration changes (IOptionsMonitor) without a restart.
    readonly Func<LlavaChatClientOptions> currentOptions;
    readonly ILogger logger;
    volatile bool disposed;

    /// <summary>A client over a model you loaded (and dispose yourself).</summary>
    public LlavaChatClient(MultimodalModel model, LlavaChatClientOptions? options = null, ILoggerFactory? loggerFactory = null)
        : this(new LlavaModelHost(model ?? throw new ArgumentNullException(nameof(model))), options, loggerFactory) { }

    internal LlavaChatClient(LlavaModelHost host, LlavaChatClientOptions? options, ILoggerFactory? loggerFactory)
        : this(host, options is null ? static () => new LlavaChatClientOptions() : () => options, loggerFactory) { }

    internal LlavaChatClient(LlavaModelHost host, Func<LlavaChatClientOptions> currentOptions, ILoggerFactory? loggerFactory)
    {
        this.host = host;
        this.currentOptions = currentOptions;
        logger = loggerFactory?.CreateLogger<LlavaChatClient>() ?? (ILogger)NullLogger.Instance;
        Metadata = new ChatClientMetadata("llavamodal", providerUri: null, defaultModelId: host.ModelId);
    }

    /// <summary>Provider name <c>llavamodal</c> and the model id (the model folder's name).</summary>
    public ChatClientMetadata Metadata { get; }

    /// <summary>The model id (the model folder's name).</summary>
    public string ModelId => host.ModelId;

    /// <summary>The model, loaded now if it was not yet.</summary>
    public MultimodalModel Model
    {
        get
        {
            if (host.IsLoaded) return host.Model;
            var clock = Stopwatch.StartNew();
            var model = host.Model;
            ChatLog.ModelReady(logger, model.ModelId, clock.ElapsedMilliseconds);
            return model;
        }
    }

    /// <summary>
    /// Loads the model now, on a thread-pool thread, if it is not loaded yet: for a host's start-up, so the first request
    /// does not pay for it and a bad folder fails the start instead of a request.
    /// </summary>
    public async Task<MultimodalModel> LoadAsync(CancellationToken cancellationToken = default)
    {
        if (host.IsLoaded) return host.Model;
        var clock = Stopwatch.StartNew();
        var model = await host.LoadAsync(cancellationToken).ConfigureAwait(false);
        ChatLog.ModelReady(logger, model.ModelId, clock.ElapsedMilliseconds);
        return model;
    }

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var (request, generation) = await PrepareAsync(messages, options, cancellationToken).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        var result = await Model.GenerateAsync(request.Prompt, generation, cancellationToken).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        Log(request, result, clock.Elapsed, streamed: false);

        var message = new ChatMessage(ChatRole.Assistant, result.Text) { AdditionalProperties = Properties(result), MessageId = Guid.NewGuid().ToString("N") };
        return new ChatResponse(message)
        {
            ModelId = ModelId,
            ResponseId = message.MessageId,
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = Finish(result),
            Usage = Usage(result),
            RawRepresentation = result,
        };
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var (request, generation) = await PrepareAsync(messages, options, cancellationToken).ConfigureAwait(false);
        var id = Guid.NewGuid().ToString("N");
        var created = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        await foreach (var chunk in Model.GenerateStreamingAsync(request.Prompt, generation, cancellationToken).ConfigureAwait(false))
        {
            if (chunk.Result is { } result)
            {
                cancellationToken.ThrowIfCancellationRequested();
                Log(request, result, clock.Elapsed, streamed: true);
                var usage = Usage(result);
                yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(usage)])
                {
                    ResponseId = id, MessageId = id, ModelId = ModelId, CreatedAt = created,
                    FinishReason = Finish(result), AdditionalProperties = Properties(result), RawRepresentation = result,
                };
            }
            else if (chunk.Text.Length > 0)
            {
                yield return new ChatResponseUpdate(ChatRole.Assistant, chunk.Text)
                {
                    ResponseId = id, MessageId = id, ModelId = ModelId, CreatedAt = created, RawRepresentation = chunk,
                };
            }
        }
    }

    /// <summary>Everything that can fail before the model runs: settings, tools, loading, content.</summary>
    async Task<(ChatPromptBuilder.Built Request, GenerationOptions Generation)> PrepareAsync(IEnumerable<ChatMessage> messages, ChatOptions? options, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var clientOptions = currentOptions();
        var settings = LlavaPromptExecutionSettings.FromChatOptions(options);
        var generation = settings.ToGenerationOptions();
        if (settings.ExtensionData is { Count: > 0 } ignored)
            ChatLog.OptionsIgnored(logger, string.Join(", ", ignored.Keys));
        if (options?.Tools is { Count: > 0 } tools)
        {
            if (clientOptions.RejectTools)
                throw new NotSupportedException($"The request offers {tools.Count} tool(s) ({string.Join(", ", tools.Select(t => t.Name))}) but the LLaVA model cannot call functions (LlavaChatClientOptions.RejectTools is on). Remove the tools or the FunctionChoiceBehavior.");
            ChatLog.ToolsIgnored(logger, tools.Count, string.Join(", ", tools.Select(t => t.Name)));
        }
        var request = await ChatPromptBuilder.BuildAsync(Model, messages, options?.Instructions, clientOptions, cancellation).ConfigureAwait(false);
        ChatLog.Request(logger, request.Messages, request.Prompt.Inputs.Count, request.MediaBytes, generation.MaxNewTokens);
        return (request, generation);
    }

    void Log(ChatPromptBuilder.Built request, GenerationResult result, TimeSpan total, bool streamed) =>
        ChatLog.Answered(logger, streamed ? "streamed" : "whole", request.Messages, request.Prompt.Inputs.Count, result.PromptTokens, result.CompletionTokens, result.FinishReason.ToString(),
            result.Queued.TotalMilliseconds, result.Prefill.TotalMilliseconds, result.Decode.TotalMilliseconds, result.DecodeTokensPerSecond, total.TotalMilliseconds);

    static ChatFinishReason Finish(GenerationResult result) => result.FinishReason == FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop;

    static UsageDetails Usage(GenerationResult result) => new()
    {
        InputTokenCount = result.PromptTokens,
        CachedInputTokenCount = result.CachedPromptTokens,
        OutputTokenCount = result.CompletionTokens,
        TotalTokenCount = result.PromptTokens + result.CompletionTokens,
    };

    static AdditionalPropertiesDictionary Properties(GenerationResult result) => new()
    {
        [MetadataKeys.FinishReason] = Finish(result).Value,
        [MetadataKeys.PromptTokens] = result.PromptTokens,
        [MetadataKeys.CompletionTokens] = result.CompletionTokens,
        [MetadataKeys.Usage] = Usage(result),
    };

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return Metadata;
        if (serviceType == typeof(MultimodalModel)) return Model;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Refuses later requests (<see cref="ObjectDisposedException"/>); running ones finish. The model belongs to whoever loaded it (the container or you).</summary>
    public void Dispose() => disposed = true;
}

/// <summary>Log messages of the chat services, with the stable event ids of <see cref="LlavaModal.Multimodal.DependencyInjection.LlavaModalLogEvents"/>.</summary>
static partial class ChatLog
{
    [LoggerMessage(EventId = 1100, EventName = "ChatModelReady", Level = LogLevel.Information, Message = "LLaVA chat client: model {ModelId} ready in {Ms} ms")]
    public static partial void ModelReady(ILogger logger, string modelId, long ms);

    [LoggerMessage(EventId = 1101, EventName = "ChatRequest", Level = LogLevel.Debug,
        Message = "LLaVA request: {Messages} messages, {Media} media inputs ({Bytes} bytes), max {MaxTokens} new tokens")]
    public static partial void Request(ILogger logger, int messages, int media, int bytes, int maxTokens);

    [LoggerMessage(EventId = 1102, EventName = "ChatAnswered", Level = LogLevel.Information,
        Message = "LLaVA {Kind} answer: {Messages} messages, {Media} media, {PromptTokens} prompt + {CompletionTokens} completion tokens, {Finish}; queued {QueueMs:F0} ms, prefill {PrefillMs:F0} ms, decode {DecodeMs:F0} ms ({TokensPerSecond:F1} tokens/s), total {TotalMs:F0} ms")]
    public static partial void Answered(ILogger logger, string kind, int messages, int media, int promptTokens, int completionTokens, string finish,
        double queueMs, double prefillMs, double decodeMs, double tokensPerSecond, double totalMs);

    [LoggerMessage(EventId = 1103, EventName = "ToolsIgnored", Level = LogLevel.Warning,
        Message = "LLaVA cannot call functions: ignoring {Count} tool(s) offered by the request ({Tools}); the model answers without them")]
    public static partial void ToolsIgnored(ILogger logger, int count, string tools);

    [LoggerMessage(EventId = 1104, EventName = "OptionsIgnored", Level = LogLevel.Debug, Message = "LLaVA chat client: ignoring options it does not use: {Keys}")]
    public static partial void OptionsIgnored(ILogger logger, string keys);
}
