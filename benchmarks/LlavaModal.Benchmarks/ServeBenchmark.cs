using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using LlavaModal.Decoder.Generation;
using LlavaModal.Multimodal;
using LlavaModal.Server;
using LlavaModal.Tokenizers.Chat;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LlavaModal.Benchmarks;

/// <summary>
/// <c>serve</c>: a load test of <c>llava-modal serve</c> over real HTTP on loopback. For each concurrency level, that many
/// clients stream chat completions with an image (each client one request after another) against one server; the
/// table gives throughput, latency and time-to-first-token percentiles, failures, the largest batch seen and RSS. The
/// same requests at concurrency 1 are the sequential baseline, and a server with <c>--max-batch 1</c> at the highest
/// level shows what batching buys. Then a two-turn image chat measures the prompt cache's saving on the second turn.
/// </summary>
static class ServeBenchmark
{
    public static async Task<int> Run(BenchArgs args)
    {
        var root = Report.RepositoryRoot();
        var model = args.String("--model", Path.Combine(root, "tests", "fixtures", "llava-tiny-a"));
        var levels = args.Ints("--clients", "1,8,32,64");
        int perLevel = args.Int("--requests", 64, min: 1);
        int maxTokens = args.Int("--max-tokens", 16, min: 1);
        int maxBatch = args.Int("--max-batch", 32, min: 1);
        int threads = args.Int("--threads", 0);
        bool json = args.Flag("--json");
        bool skipUnbatched = args.Flag("--skip-unbatched");
        args.RejectUnknown();
        if (threads > 0) TorchSharp.torch.set_num_threads(threads);
        var images = Directory.GetFiles(Path.Combine(root, "tests", "fixtures", "images"), "*.png").Order().Select(File.ReadAllBytes).ToArray();

        var rows = new List<LevelResult>();
        long rssStart = ProcStatus.Read().RssBytes;
        await using (var server = await StartAsync(model, maxBatch))
        {
            await RunLevel(server, 1, 2, images, maxTokens); // warm-up: first-call JIT and allocations
            foreach (var clients in levels)
            {
                var r = await RunLevel(server, clients, Math.Max(perLevel, clients), images, maxTokens);
                rows.Add(r with { MaxBatch = maxBatch });
                Console.Error.WriteLine($"serve: {clients} clients done ({r.Requests} requests, {Report.F(r.RequestsPerSecond, 2)} req/s)");
            }
        }
        long rssAfter = ProcStatus.Read().RssBytes;
        if (!skipUnbatched)
        {
            int top = levels.Max();
            await using var unbatched = await StartAsync(model, 1);
            await RunLevel(unbatched, 1, 2, images, maxTokens);
            rows.Add(await RunLevel(unbatched, top, Math.Max(perLevel, top), images, maxTokens) with { MaxBatch = 1 });
        }
        var cache = PromptCacheSaving(model, images[0], maxTokens);

        if (json)
        {
            Console.WriteLine(Report.ToJson(new { model = Path.GetFileName(model), max_tokens = maxTokens, rss_start_mib = rssStart >> 20, rss_after_mib = rssAfter >> 20, levels = rows, prompt_cache = cache, machine = Report.Machine() }));
        }
        else
        {
            Console.WriteLine($"serve: {Path.GetFileName(model)}, streamed chat completions with an image, max_tokens {maxTokens}; {Report.Machine()}");
            Report.Table(["clients", "max batch", "requests", "failed", "req/s", "tokens/s", "p50 latency ms", "p99 latency ms", "p50 TTFT ms", "p99 TTFT ms", "largest batch", "RSS after"],
                rows.Select(r => (IReadOnlyList<string>)[r.Clients.ToString(Inv), r.MaxBatch.ToString(Inv), r.Requests.ToString(Inv), r.Failed.ToString(Inv), Report.F(r.RequestsPerSecond, 2),
                    Report.F(r.TokensPerSecond, 1), Report.F(r.P50LatencyMs, 0), Report.F(r.P99LatencyMs, 0), Report.F(r.P50TtftMs, 0), Report.F(r.P99TtftMs, 0), r.LargestBatch.ToString(Inv), Report.MiB(r.RssBytes)]));
            Console.WriteLine($"RSS: {Report.MiB(rssStart)} before the server, {Report.MiB(rssAfter)} after the batched levels.");
            Console.WriteLine($"prompt cache, second turn of an image chat ({cache.PromptTokens} positions): prefill {Report.F(cache.WithoutMs, 1)} ms without the cache, "
                + $"{Report.F(cache.WithMs, 1)} ms with it ({cache.CachedTokens} positions reused, image not encoded again): {Report.F(cache.WithoutMs / cache.WithMs, 1)}x faster; same ids: {cache.SameIds}");
        }
        return rows.All(r => r.Failed == 0) && cache.SameIds ? 0 : 1;
    }

    static readonly IFormatProvider Inv = System.Globalization.CultureInfo.InvariantCulture;

    sealed record LevelResult(int Clients, int MaxBatch, int Requests, int Failed, double Seconds, double RequestsPerSecond, double TokensPerSecond,
        double P50LatencyMs, double P99LatencyMs, double P50TtftMs, double P99TtftMs, int LargestBatch, long RssBytes);

    sealed record CacheSaving(int PromptTokens, int CachedTokens, double WithoutMs, double WithMs, bool SameIds);

    sealed class Server(Microsoft.AspNetCore.Builder.WebApplication app, HttpClient http, MultimodalModel model) : IAsyncDisposable
    {
        public HttpClient Http => http;
        public MultimodalModel Model => model;

        public async ValueTask DisposeAsync()
        {
            http.Dispose();
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    static async Task<Server> StartAsync(string model, int maxBatch)
    {
        var app = LlavaServer.Create(new ServerOptions { ModelDirectory = model, Port = 0, MaxBatch = maxBatch, MaxMediaPerRequest = 4 },
            services => services.AddLogging(l => l.SetMinimumLevel(LogLevel.Warning)));
        await app.StartAsync();
        var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024 }) { BaseAddress = new Uri(app.Urls.First() + "/"), Timeout = TimeSpan.FromMinutes(10) };
        var clock = Stopwatch.StartNew();
        while (!(await http.GetAsync("health")).IsSuccessStatusCode)
        {
            if (clock.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException("the server did not become ready in 5 minutes.");
            await Task.Delay(50);
        }
        return new Server(app, http, app.Services.GetRequiredService<MultimodalModel>());
    }

    static async Task<LevelResult> RunLevel(Server server, int clients, int requests, byte[][] images, int maxTokens)
    {
        var latencies = new List<double>();
        var ttfts = new List<double>();
        int failed = 0, next = -1, largest = 0;
        long tokens = 0;
        using var stop = new CancellationTokenSource();
        var watch = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                largest = Math.Max(largest, server.Model.ActiveRequests);
                try { await Task.Delay(2, stop.Token); } catch (OperationCanceledException) { }
            }
        });
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            for (int i; (i = Interlocked.Increment(ref next)) < requests;)
            {
                var outcome = await Stream(server.Http, images[i % images.Length], $"Request {i}: what is in this image?", maxTokens);
                lock (latencies)
                {
                    if (outcome is null) { failed++; continue; }
                    latencies.Add(outcome.Value.TotalMs);
                    ttfts.Add(outcome.Value.FirstTokenMs);
                    tokens += outcome.Value.Tokens;
                }
            }
        })));
        double seconds = clock.Elapsed.TotalSeconds;
        stop.Cancel();
        await watch;
        GC.Collect();
        return new LevelResult(clients, 0, requests, failed, seconds, requests / seconds, tokens / seconds,
            Percentile(latencies, 0.5), Percentile(latencies, 0.99), Percentile(ttfts, 0.5), Percentile(ttfts, 0.99), largest, ProcStatus.Read().RssBytes);
    }

    /// <summary>One streamed request: total time, time to the first content, completion tokens; null on any failure.</summary>
    static async Task<(double TotalMs, double FirstTokenMs, int Tokens)?> Stream(HttpClient http, byte[] image, string text, int maxTokens)
    {
        var body = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["max_tokens"] = maxTokens,
            ["stream"] = true,
            ["stream_options"] = new Dictionary<string, object> { ["include_usage"] = true },
            ["messages"] = new object[]
            {
                new Dictionary<string, object>
                {
                    ["role"] = "user",
                    ["content"] = new object[]
                    {
                        new Dictionary<string, object> { ["type"] = "image_url", ["image_url"] = new Dictionary<string, string> { ["url"] = "data:image/png;base64," + Convert.ToBase64String(image) } },
                        new Dictionary<string, object> { ["type"] = "text", ["text"] = text },
                    },
                },
            },
        });
        var clock = Stopwatch.StartNew();
        double first = -1;
        int tokens = 0;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            if (!response.IsSuccessStatusCode) return null;
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            bool done = false;
            while (await reader.ReadLineAsync() is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
                if (line == "data: [DONE]") { done = true; break; }
                using var doc = JsonDocument.Parse(line.AsMemory(6));
                if (doc.RootElement.TryGetProperty("error", out _)) return null;
                if (first < 0 && doc.RootElement.GetProperty("choices") is { } choices && choices.GetArrayLength() > 0
                    && choices[0].GetProperty("delta").TryGetProperty("content", out _)) first = clock.Elapsed.TotalMilliseconds;
                if (doc.RootElement.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object) tokens = usage.GetProperty("completion_tokens").GetInt32();
            }
            return done ? (clock.Elapsed.TotalMilliseconds, first < 0 ? clock.Elapsed.TotalMilliseconds : first, tokens) : null;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or JsonException)
        {
            return null;
        }
    }

    /// <summary>The second turn of an image chat, prefilled with and without the prompt cache (median of 5 each, in-process).</summary>
    static CacheSaving PromptCacheSaving(string directory, byte[] image, int maxTokens)
    {
        var input = new LlavaModal.Abstractions.Modality.ModalityInput(image, "image/png", "image.png");
        var options = new GenerationOptions { MaxNewTokens = maxTokens, StopTokenIds = [] };
        using var cached = MultimodalModel.Load(directory);
        using var plain = MultimodalModel.Load(directory, options: new ModelLoadOptions { PromptCacheBytes = 0 });
        var first = cached.Generate(cached.RenderChat([new ChatTurn(TurnRole.User, "What is in the picture?")], [input]), options);
        var second = cached.RenderChat([new(TurnRole.User, "What is in the picture?"), new(TurnRole.Assistant, first.Text), new(TurnRole.User, "And what colours does it have?")], [input]);
        plain.Generate(second, options); // warm-up
        var without = Enumerable.Range(0, 5).Select(_ => plain.Generate(second, options)).ToList();
        var with = Enumerable.Range(0, 5).Select(_ => cached.Generate(second, options)).ToList();
        return new CacheSaving(with[0].PromptTokens, with.Min(r => r.CachedPromptTokens), Report.Median(without.Select(r => r.Prefill.TotalMilliseconds)),
            Report.Median(with.Select(r => r.Prefill.TotalMilliseconds)), with.All(r => r.GeneratedIds.SequenceEqual(without[0].GeneratedIds)));
    }

    static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }
}
