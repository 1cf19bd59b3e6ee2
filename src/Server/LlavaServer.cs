using System.Net;
using System.Text.Json;
using LlavaModal.Server.Hosting;
using LlavaModal.Server.OpenAi;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace LlavaModal.Server;

/// <summary>
/// The OpenAI-compatible server: <c>POST /v1/chat/completions</c> (text, images as data URIs or fetched URLs, audio
/// for a model with an audio plugin; whole or streamed), <c>GET /v1/models</c>, <c>GET /health</c> (503 while the model
/// loads) and Prometheus metrics at <c>/metrics</c>, on Kestrel, answering through the model's <see cref="IChatClient"/>.
/// </summary>
public static class LlavaServer
{
    /// <summary>Builds the web application (not started).</summary>
    /// <param name="options">Model, address, key and limits.</param>
    /// <param name="configureServices">Adds services before the model is registered (e.g. your own modality plugins on <c>AddLlavaModal</c>'s builder, or logging).</param>
    /// <exception cref="ArgumentException">Bad options (named).</exception>
    public static WebApplication Create(ServerOptions options, Action<IServiceCollection>? configureServices = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var modelId = options.ModelId ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.ModelDirectory!)));
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxRequestBytes;
            k.Listen(ParseHost(options.Host), options.Port);
        });
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownGrace + TimeSpan.FromSeconds(5));
        configureServices?.Invoke(builder.Services);

        var remote = options.AllowRemoteMedia ? new HttpClient { Timeout = TimeSpan.FromSeconds(30) } : null;
        builder.Services.AddLlavaModal(o =>
        {
            o.ModelDirectory = options.ModelDirectory;
            o.DType = options.DType;
            o.Device = options.Device;
            o.Attention = options.Attention;
            o.KvCache = options.KvCache;
            o.MaxBatch = options.MaxBatch;
            o.MaxContextTokens = options.MaxContextTokens;
            o.PrefillChunkTokens = options.PrefillChunkTokens;
            o.PromptCacheBytes = options.PromptCacheBytes;
        }).AddAudio();
        builder.Services.AddLlavaChatClient(o =>
        {
            o.RemoteMediaClient = remote;
            o.MaxRemoteMediaBytes = options.MaxRemoteMediaBytes;
            o.RejectTools = true;
        });
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<ModelState>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ModelState>());
        builder.Services.AddSingleton<ServerMetrics>();
        builder.Services.AddSingleton<ShutdownGrace>();
        builder.Services.AddSingleton(sp => new ChatCompletionsEndpoint(sp.GetRequiredService<IChatClient>(), options, modelId, sp.GetRequiredService<ModelState>(),
            sp.GetRequiredService<ServerMetrics>(), sp.GetRequiredService<ShutdownGrace>(), sp.GetRequiredService<ILogger<ChatCompletionsEndpoint>>()));
        builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(ServerMetrics.MeterName).AddPrometheusExporter());

        var app = builder.Build();
        if (remote is not null) app.Lifetime.ApplicationStopped.Register(remote.Dispose);
        app.UseOpenTelemetryPrometheusScrapingEndpoint();
        if (options.ApiKey is { } key) app.Use((http, next) => RequireKey(http, next, key));

        app.MapGet("/health", (ModelState state) => state.IsReady
            ? Results.Json(new HealthResponse("ok", modelId, null), ServerJson.Default.HealthResponse)
            : Results.Json(new HealthResponse(state.Status, modelId, state.Error), ServerJson.Default.HealthResponse, statusCode: 503));
        app.MapGet("/v1/models", () => Results.Json(new ModelList("list", [Describe(modelId)]), ServerJson.Default.ModelList));
        app.MapGet("/v1/models/{id}", (string id) => id == modelId
            ? Results.Json(Describe(modelId), ServerJson.Default.ModelEntry)
            : Error(404, $"The model '{id}' does not exist; this server serves '{modelId}'.", "model_not_found"));
        app.MapPost("/v1/chat/completions", (HttpContext http, ChatCompletionsEndpoint endpoint) => endpoint.HandleAsync(http));
        app.MapFallback((HttpContext http) => Error(404, $"No route {http.Request.Method} {http.Request.Path} (this server has /v1/chat/completions, /v1/models, /health, /metrics).", "not_found"));
        return app;
    }

    static ModelEntry Describe(string modelId) => new(modelId, "model", DateTimeOffset.UtcNow.ToUnixTimeSeconds(), "llavamodal");

    static IPAddress ParseHost(string host) => host switch
    {
        "localhost" => IPAddress.Loopback,
        "*" or "0.0.0.0" => IPAddress.Any,
        _ => IPAddress.TryParse(host, out var address) ? address : throw new ArgumentException($"--host '{host}' is not an IP address (use 127.0.0.1, 0.0.0.0 or ::)."),
    };

    static Task RequireKey(HttpContext http, RequestDelegate next, string key)
    {
        if (!http.Request.Path.StartsWithSegments("/v1", StringComparison.Ordinal)) return next(http);
        var header = http.Request.Headers.Authorization.ToString();
        const string Bearer = "Bearer ";
        bool ok = header.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase)
            && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
                System.Text.Encoding.UTF8.GetBytes(header[Bearer.Length..].Trim()), System.Text.Encoding.UTF8.GetBytes(key));
        return ok ? next(http) : Error(401, "Incorrect or missing API key: send 'Authorization: Bearer <key>'.", "invalid_api_key").ExecuteAsync(http);
    }

    static IResult Error(int status, string message, string code)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, ChatCompletionsEndpoint.Compact)) ChatResponses.WriteError(writer, message, status == 401 ? "authentication_error" : "invalid_request_error", null, code);
        return Results.Text(System.Text.Encoding.UTF8.GetString(buffer.ToArray()), "application/json", statusCode: status);
    }
}
