using LlavaModal.Multimodal;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LlavaModal.Server.Hosting;

/// <summary>
/// Loads the model when the server starts, in the background, so <c>/health</c> answers 503 while it loads (a
/// readiness probe keeps traffic away) and 200 once requests can be served; a failed load stays reported with its error.
/// </summary>
sealed class ModelState(IServiceProvider services, ILogger<ModelState> logger) : BackgroundService
{
    volatile string status = "loading";
    volatile string? error;
    volatile MultimodalModel? model;

    /// <summary><c>loading</c>, <c>ready</c> or <c>failed</c>.</summary>
    public string Status => status;

    /// <summary>Why loading failed, when it did.</summary>
    public string? Error => error;

    public bool IsReady => status == "ready";

    /// <summary>The model once loaded, else null.</summary>
    public MultimodalModel? Model => model;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var loaded = await Task.Run(() => services.GetRequiredService<MultimodalModel>(), stoppingToken).ConfigureAwait(false);
            model = loaded;
            status = "ready";
            logger.LogInformation("Serving {Model} ({Modalities}); loaded in {Ms} ms", loaded.ModelId,
                loaded.Modalities.Count == 0 ? "text" : "text, " + string.Join(", ", loaded.Modalities.Select(m => m.Modality)), clock.ElapsedMilliseconds);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
        catch (Exception e)
        {
            error = e.Message;
            status = "failed";
            logger.LogError(e, "The model could not be loaded: {Message}", e.Message);
        }
    }
}
