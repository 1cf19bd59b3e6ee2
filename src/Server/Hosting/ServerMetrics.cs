using System.Diagnostics.Metrics;

namespace LlavaModal.Server.Hosting;

/// <summary>The server's instruments (meter <c>LlavaModal.Server</c>), exported for Prometheus at <c>/metrics</c>.</summary>
sealed class ServerMetrics : IDisposable
{
    public const string MeterName = "LlavaModal.Server";

    readonly Meter meter;
    int waiting;

    // From the container's meter factory, so each server's instruments belong to it alone (two servers in one process,
    // as in tests, do not share or clash).
    public ServerMetrics(IMeterFactory factory, ModelState state)
    {
        meter = factory.Create(MeterName);
        Requests = meter.CreateCounter<long>("llavamodal.requests", description: "Chat completion requests, by outcome (status code).");
        PromptTokens = meter.CreateCounter<long>("llavamodal.tokens.prompt", unit: "{token}", description: "Prompt positions processed, media included.");
        CompletionTokens = meter.CreateCounter<long>("llavamodal.tokens.completion", unit: "{token}", description: "Tokens generated.");
        TimeToFirstToken = meter.CreateHistogram<double>("llavamodal.time_to_first_token", unit: "s", description: "From the request's arrival to its first token.");
        TokensPerSecond = meter.CreateHistogram<double>("llavamodal.decode_rate", unit: "{token}/s", description: "Decode speed of a request after its first token.");
        meter.CreateObservableGauge("llavamodal.queue_depth", () => Volatile.Read(ref waiting), unit: "{request}", description: "Requests received and not yet answered.");
        meter.CreateObservableGauge("llavamodal.batch.active", () => state.Model?.ActiveRequests ?? 0, unit: "{request}", description: "Requests decoding together now (rows of the batch).");
        meter.CreateObservableCounter("llavamodal.prompt_cache.hits", () => state.Model?.PromptCache.Hits ?? 0, unit: "{request}", description: "Requests whose prompt started from a cached prefix.");
        meter.CreateObservableCounter("llavamodal.prompt_cache.reused_tokens", () => state.Model?.PromptCache.ReusedTokens ?? 0, unit: "{token}", description: "Prompt positions loaded from the prompt cache instead of computed.");
        meter.CreateObservableGauge("llavamodal.prompt_cache.bytes", () => state.Model?.PromptCache.Bytes ?? 0, unit: "By", description: "Memory the prompt cache holds.");
        meter.CreateObservableGauge("llavamodal.batch.waiting", () => state.Model?.WaitingRequests ?? 0, unit: "{request}", description: "Requests waiting for a free row of the batch.");
    }

    public Counter<long> Requests { get; }
    public Counter<long> PromptTokens { get; }
    public Counter<long> CompletionTokens { get; }
    public Histogram<double> TimeToFirstToken { get; }
    public Histogram<double> TokensPerSecond { get; }

    /// <summary>Counts a request in the queue until the returned scope is disposed.</summary>
    public IDisposable Track()
    {
        Interlocked.Increment(ref waiting);
        return new Leave(this);
    }

    public void Dispose() => meter.Dispose();

    sealed class Leave(ServerMetrics metrics) : IDisposable
    {
        int done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref done, 1) == 0) Interlocked.Decrement(ref metrics.waiting);
        }
    }
}
