using System.CommandLine;
using LlavaModal.Server;
using Microsoft.Extensions.Hosting;

namespace LlavaModal.Cli.Commands;

/// <summary><c>llava-modal serve</c>: the OpenAI-compatible HTTP server over one model.</summary>
static class ServeCommand
{
    public static Command Create()
    {
        var defaults = new ServerOptions();
        var model = new Option<string?>("--model") { Description = "Model folder to serve (default: the shipped toy model, models/llava-modal-toy)." };
        var modelId = new Option<string?>("--model-id") { Description = "The model id clients use (default: the folder's name)." };
        var host = new Option<string>("--host") { Description = "Interface to listen on: 127.0.0.1 (default), 0.0.0.0 for all (containers), ::.", DefaultValueFactory = _ => defaults.Host };
        var port = new Option<int>("--port") { Description = "TCP port (default 8080; 0 picks a free one).", DefaultValueFactory = _ => defaults.Port };
        var apiKey = new Option<string?>("--api-key") { Description = "Require 'Authorization: Bearer KEY' on /v1/* (default: $LLAVAMODAL_API_KEY, else no key)." };
        var maxRequest = new Option<long>("--max-request-bytes") { Description = "Largest request body (default 32 MB); larger requests get 413.", DefaultValueFactory = _ => defaults.MaxRequestBytes };
        var maxMedia = new Option<int>("--max-media") { Description = "Most images and audio clips per request (default 16).", DefaultValueFactory = _ => defaults.MaxMediaPerRequest };
        var remote = new Option<bool>("--allow-remote-media") { Description = "Fetch http(s) image URLs (default: data: URIs only)." };
        var remoteBytes = new Option<long>("--max-remote-media-bytes") { Description = "Largest remote image download (default 20 MB).", DefaultValueFactory = _ => defaults.MaxRemoteMediaBytes };
        var timeout = new Option<double>("--request-timeout") { Description = "Seconds a request may take, queueing included (default 600).", DefaultValueFactory = _ => defaults.RequestTimeout.TotalSeconds };
        var grace = new Option<double>("--shutdown-grace") { Description = "Seconds running requests may still finish on shutdown (default 10).", DefaultValueFactory = _ => defaults.ShutdownGrace.TotalSeconds };
        var maxBatch = new Option<int>("--max-batch") { Description = "Most requests decoded together (continuous batching; default 8); more wait for a free row.", DefaultValueFactory = _ => defaults.MaxBatch };
        var promptCache = new Option<long>("--prompt-cache-mb") { Description = "Memory for the prompt cache in MiB (default 1024; 0: off): a request starting like an earlier one (a chat's next turn) reuses that prefix, images included.", DefaultValueFactory = _ => defaults.PromptCacheBytes / (1024 * 1024) };
        var noWarmUp = new Option<bool>("--no-warm-up") { Description = "Report ready as soon as the model loads, without first running a short answer and a small image and audio clip through it (default: warm up, so the first request does not pay for compiling the code it runs)." };
        var load = new LoadOptions();
        var command = new Command("serve", "Serve a model over the OpenAI Chat Completions API (POST /v1/chat/completions with images and audio, streaming; GET /v1/models, /health, /metrics).")
        {
            model, modelId, host, port, apiKey, maxBatch, promptCache, maxRequest, maxMedia, remote, remoteBytes, timeout, grace, noWarmUp,
        };
        load.AddTo(command);
        command.SetAction((parse, cancellation) => CliErrors.RunAsync(async () =>
        {
            var read = load.Read(parse);
            var options = new ServerOptions
            {
                ModelDirectory = DefaultModel.Resolve(parse.GetValue(model)),
                ModelId = parse.GetValue(modelId),
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                ApiKey = parse.GetValue(apiKey) ?? (Environment.GetEnvironmentVariable("LLAVAMODAL_API_KEY") is { Length: > 0 } env ? env : null),
                DType = read.DType is { } d ? LlavaModal.Abstractions.Configuration.DTypes.ConfigName(d) : null,
                Device = read.Device,
                Attention = read.Attention,
                KvCache = read.KvCache is { } kv ? LlavaModal.Abstractions.Configuration.DTypes.ConfigName(kv) : null,
                MaxBatch = parse.GetValue(maxBatch),
                MaxContextTokens = read.Limits.MaxContextTokens,
                PrefillChunkTokens = read.Limits.PrefillChunkTokens,
                PromptCacheBytes = parse.GetValue(promptCache) is var mb and >= 0 and <= (long.MaxValue >> 20) ? mb << 20 : throw new ArgumentException($"--prompt-cache-mb must be between 0 (off) and {long.MaxValue >> 20}, got {parse.GetValue(promptCache)}."),
                MaxRequestBytes = parse.GetValue(maxRequest),
                MaxMediaPerRequest = parse.GetValue(maxMedia),
                AllowRemoteMedia = parse.GetValue(remote),
                MaxRemoteMediaBytes = parse.GetValue(remoteBytes),
                RequestTimeout = TimeSpan.FromSeconds(parse.GetValue(timeout)),
                ShutdownGrace = TimeSpan.FromSeconds(parse.GetValue(grace)),
                WarmUp = !parse.GetValue(noWarmUp),
            };
            await using var app = LlavaServer.Create(options);
            await app.StartAsync(cancellation).ConfigureAwait(false);
            Console.Error.WriteLine($"llava-modal: serving {options.ModelDirectory} on {string.Join(", ", app.Urls)} (Ctrl+C to stop)");
            await app.WaitForShutdownAsync(cancellation).ConfigureAwait(false);
            return 0;
        }));
        return command;
    }
}
