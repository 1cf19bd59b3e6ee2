using LlavaModal.Multimodal;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LlavaModal.Server.Hosting;

/// <summary>
/// Loads the model when the server starts, in the background, so <c>/health</c> answers 503 while it loads and warms up
/// (<see cref="WarmUpAsync"/>; a readiness probe keeps traffic away) and 200 once requests can be served; a failed load stays
/// reported with its error. A failed warm-up is logged and the model served anyway.
/// </summary>
sealed class ModelState(IServiceProvider services, ServerOptions options, ILogger<ModelState> logger) : BackgroundService
{
    volatile string status = "loading";
    volatile string? error;
    volatile MultimodalModel? model;

    /// <summary><c>loading</c>, <c>warming up</c>, <c>ready</c> or <c>failed</c>.</summary>
    public string Status => status;

    /// <summary>Why loading failed, when it did.</summary>
    public string? Error => error;

    public bool IsReady => status == "ready";

    /// <summary>How long the warm-up took, once it ran and succeeded; null when it is off, failed or has not finished.</summary>
    public long? WarmUpMilliseconds { get; private set; }

    /// <summary>The model once loaded, else null.</summary>
    public MultimodalModel? Model => model;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var loaded = await Task.Run(() => services.GetRequiredService<MultimodalModel>(), stoppingToken).ConfigureAwait(false);
            model = loaded;
            long loadMs = clock.ElapsedMilliseconds;
            if (options.WarmUp)
            {
                status = "warming up";
                try
                {
                    await WarmUpAsync(loaded, stoppingToken).ConfigureAwait(false);
                    WarmUpMilliseconds = clock.ElapsedMilliseconds - loadMs;
                    logger.LogInformation("Warmed up in {Ms} ms", WarmUpMilliseconds);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    logger.LogWarning(e, "Warming up failed ({Message}); serving anyway", e.Message);
                }
            }
            status = "ready";
            logger.LogInformation("Serving {Model} ({Modalities}); loaded in {Ms} ms", loaded.ModelId,
                loaded.Modalities.Count == 0 ? "text" : "text, " + string.Join(", ", loaded.Modalities.Select(m => m.Modality)), loadMs);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
        catch (Exception e)
        {
            error = e.Message;
            status = "failed";
            logger.LogError(e, "The model could not be loaded: {Message}", e.Message);
        }
    }

    /// <summary>
    /// The model's warm-up (<see cref="MultimodalModel.WarmUp"/>), its answer asked through the server's own chat client
    /// so that layer is compiled too.
    /// </summary>
    Task WarmUpAsync(MultimodalModel loaded, CancellationToken cancellation)
    {
        var client = services.GetRequiredService<IChatClient>();
        return Task.Run(() => ModelWarmUp.RunAsync(loaded, message => client.GetResponseAsync([new ChatMessage(ChatRole.User, message)],
            new ChatOptions { MaxOutputTokens = 2, Temperature = 0 }, cancellation), cancellation), cancellation);
    }
}
