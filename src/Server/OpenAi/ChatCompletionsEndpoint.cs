using System.Diagnostics;
using System.Text.Json;
using LlavaModal.Abstractions;
using LlavaModal.Decoder.Generation;
using LlavaModal.Server.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace LlavaModal.Server.OpenAi;

/// <summary>
/// <c>POST /v1/chat/completions</c>: reads the request into Microsoft.Extensions.AI messages and answers through the
/// model's <see cref="IChatClient"/> (the same one in-process callers use), whole or as server-sent events. A client that
/// disconnects cancels its generation; the request timeout and shutdown do too.
/// </summary>
sealed class ChatCompletionsEndpoint(IChatClient client, ServerOptions options, string modelId, ModelState state, ServerMetrics metrics, ShutdownGrace shutdown, ILogger<ChatCompletionsEndpoint> logger)
{
    // Relaxed escaping: the answers are JSON bodies and SSE events, never HTML, so text keeps its apostrophes and accents.
    internal static readonly JsonWriterOptions Compact = new() { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public async Task HandleAsync(HttpContext http)
    {
        var clock = Stopwatch.StartNew();
        using var queued = metrics.Track();
        bool streaming = false, started = false;
        using var timeout = new CancellationTokenSource(options.RequestTimeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, timeout.Token, shutdown.Token);
        var cancellation = linked.Token;
        try
        {
            if (!state.IsReady)
                throw new OpenAiException(503, state.Status == "failed" ? $"The model failed to load: {state.Error}" : "The model is still loading; retry shortly.", "service_unavailable", code: "model_not_ready");
            // Refused from the declared length, before the body is read (a client sending Expect: 100-continue uploads nothing).
            if (http.Request.ContentLength > options.MaxRequestBytes)
                throw new OpenAiException(413, $"The request body is {http.Request.ContentLength} bytes, over the server's --max-request-bytes ({options.MaxRequestBytes}).", "invalid_request_error", code: "request_too_large");
            JsonElement body;
            try
            {
                using var document = await JsonDocument.ParseAsync(http.Request.Body, default, cancellation).ConfigureAwait(false);
                body = document.RootElement.Clone();
            }
            catch (JsonException e) { throw OpenAiException.BadRequest($"The request body is not valid JSON: {e.Message}"); }
            var request = ChatRequest.Parse(body, options);
            if (request.Model is { } asked && asked != modelId)
                throw new OpenAiException(404, $"The model '{asked}' does not exist; this server serves '{modelId}'.", "invalid_request_error", "model", "model_not_found");

            streaming = request.Stream;
            if (streaming) await StreamAsync(http, request, clock, cancellation, () => started = true).ConfigureAwait(false);
            else await CompleteAsync(http, request, clock, cancellation).ConfigureAwait(false);
            metrics.Requests.Add(1, new KeyValuePair<string, object?>("status", 200));
        }
        catch (Exception e) when (Classify(e, http, timeout, out var error))
        {
            metrics.Requests.Add(1, new KeyValuePair<string, object?>("status", error?.Status ?? 499));
            if (error is null) return;   // the client went away: nobody to answer
            if (error.Status >= 500) logger.LogError(e, "Chat completion failed: {Message}", error.Message);
            else logger.LogInformation("Chat completion refused ({Status}): {Message}", error.Status, error.Message);
            if (started || (streaming && http.Response.HasStarted)) await WriteStreamErrorAsync(http, error).ConfigureAwait(false);
            else if (!http.Response.HasStarted) await WriteErrorAsync(http, error).ConfigureAwait(false);
        }
    }

    async Task CompleteAsync(HttpContext http, ChatRequest request, Stopwatch clock, CancellationToken cancellation)
    {
        var response = await client.GetResponseAsync(request.Messages, request.Options, cancellation).ConfigureAwait(false);
        Record(response.Usage, response.RawRepresentation as GenerationResult, clock, firstToken: null);
        http.Response.ContentType = "application/json";
        await using var writer = new Utf8JsonWriter(http.Response.Body, Compact);
        ChatResponses.WriteCompletion(writer, "chatcmpl-" + (response.ResponseId ?? Guid.NewGuid().ToString("N")), DateTimeOffset.UtcNow.ToUnixTimeSeconds(), modelId,
            response.Text, response.FinishReason, response.Usage);
        await writer.FlushAsync(cancellation).ConfigureAwait(false);
    }

    async Task StreamAsync(HttpContext http, ChatRequest request, Stopwatch clock, CancellationToken cancellation, Action onStarted)
    {
        var id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        TimeSpan? firstToken = null;
        bool roleSent = false;
        await foreach (var update in client.GetStreamingResponseAsync(request.Messages, request.Options, cancellation).ConfigureAwait(false))
        {
            if (!http.Response.HasStarted)
            {
                http.Response.ContentType = "text/event-stream";
                http.Response.Headers.CacheControl = "no-cache";
                http.Response.Headers["X-Accel-Buffering"] = "no";
                onStarted();
            }
            var text = update.Text;
            if (text.Length > 0 || !roleSent)
            {
                firstToken ??= clock.Elapsed;
                await WriteEventAsync(http, w => ChatResponses.WriteChunk(w, id, created, modelId, roleSent ? null : "assistant", text, null, request.IncludeUsage), cancellation).ConfigureAwait(false);
                roleSent = true;
            }
            if (update.FinishReason is { } finish)
            {
                var usage = update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details;
                await WriteEventAsync(http, w => ChatResponses.WriteChunk(w, id, created, modelId, null, null, ChatResponses.FinishReason(finish), request.IncludeUsage), cancellation).ConfigureAwait(false);
                if (request.IncludeUsage)
                    await WriteEventAsync(http, w => ChatResponses.WriteUsageChunk(w, id, created, modelId, usage), cancellation).ConfigureAwait(false);
                Record(usage, update.RawRepresentation as GenerationResult, clock, firstToken);
            }
        }
        await http.Response.WriteAsync("data: [DONE]\n\n", cancellation).ConfigureAwait(false);
        await http.Response.Body.FlushAsync(cancellation).ConfigureAwait(false);
    }

    void Record(UsageDetails? usage, GenerationResult? result, Stopwatch clock, TimeSpan? firstToken)
    {
        if (usage?.InputTokenCount is { } input) metrics.PromptTokens.Add(input);
        if (usage?.OutputTokenCount is { } output) metrics.CompletionTokens.Add(output);
        // Without streaming the first token's moment is known from the generation: arrival to now, less the decode time.
        var ttft = firstToken ?? (result is null ? null : clock.Elapsed - result.Decode);
        if (ttft is { } t) metrics.TimeToFirstToken.Record(t.TotalSeconds);
        if (result is { DecodeTokensPerSecond: > 0 } r) metrics.TokensPerSecond.Record(r.DecodeTokensPerSecond);
    }

    static async Task WriteEventAsync(HttpContext http, Action<Utf8JsonWriter> write, CancellationToken cancellation)
    {
        using var buffer = new MemoryStream();
        await using (var writer = new Utf8JsonWriter(buffer, Compact)) write(writer);
        await http.Response.WriteAsync("data: ", cancellation).ConfigureAwait(false);
        await http.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), cancellation).ConfigureAwait(false);
        await http.Response.WriteAsync("\n\n", cancellation).ConfigureAwait(false);
        await http.Response.Body.FlushAsync(cancellation).ConfigureAwait(false);
    }

    /// <summary>The OpenAI error for an exception, or null when the client disconnected (nothing to send).</summary>
    static bool Classify(Exception e, HttpContext http, CancellationTokenSource timeout, out OpenAiException? error)
    {
        error = e switch
        {
            OpenAiException o => o,
            OperationCanceledException when http.RequestAborted.IsCancellationRequested => null,
            OperationCanceledException when timeout.IsCancellationRequested => new OpenAiException(504, "The request took longer than the server's --request-timeout and was cancelled.", "timeout", code: "request_timeout"),
            OperationCanceledException => new OpenAiException(503, "The server is shutting down; the request was cancelled.", "service_unavailable", code: "shutting_down"),
            BadHttpRequestException { StatusCode: 413 } => new OpenAiException(413, "The request body is larger than the server's --max-request-bytes.", "invalid_request_error", code: "request_too_large"),
            BadHttpRequestException b => new OpenAiException(b.StatusCode, b.Message),
            ObjectDisposedException => new OpenAiException(503, "The model is shutting down.", "service_unavailable", code: "shutting_down"),
            CheckpointException c => new OpenAiException(500, c.Message, "server_error"),
            InputLimitException l => OpenAiException.BadRequest(l.Message, "messages", "context_length_exceeded"),
            LlavaModalException l => OpenAiException.BadRequest(l.Message),
            NotSupportedException n => OpenAiException.BadRequest(n.Message),
            ArgumentException a => OpenAiException.BadRequest(a.Message, a.ParamName),
            _ => new OpenAiException(500, "The server failed to answer: " + e.Message, "server_error"),
        };
        return true;
    }

    static async Task WriteErrorAsync(HttpContext http, OpenAiException error)
    {
        http.Response.StatusCode = error.Status;
        http.Response.ContentType = "application/json";
        await using var writer = new Utf8JsonWriter(http.Response.Body, Compact);
        ChatResponses.WriteError(writer, error.Message, error.Type, error.Param, error.Code);
    }

    /// <summary>Once a stream has started the status is sent; the error goes as a last event, as OpenAI-compatible servers do.</summary>
    static async Task WriteStreamErrorAsync(HttpContext http, OpenAiException error)
    {
        try
        {
            await WriteEventAsync(http, w => ChatResponses.WriteError(w, error.Message, error.Type, error.Param, error.Code), CancellationToken.None).ConfigureAwait(false);
            await http.Response.WriteAsync("data: [DONE]\n\n").ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException) { }
    }
}
