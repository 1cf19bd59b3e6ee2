namespace LlavaModal.Server;

/// <summary>How <c>llava-modal serve</c> serves a model: where, who may call, and the limits every request is held to.</summary>
public sealed class ServerOptions
{
    /// <summary>The Hugging Face model folder to serve (required).</summary>
    public string? ModelDirectory { get; set; }

    /// <summary>The model id clients use (<c>model</c> in requests, <c>/v1/models</c>); default: the folder's name.</summary>
    public string? ModelId { get; set; }

    /// <summary>Interface to listen on (default <c>127.0.0.1</c>; <c>0.0.0.0</c> for every interface, as in a container).</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>TCP port (default 8080; 0 picks a free one).</summary>
    public int Port { get; set; } = 8080;

    /// <summary>When set, <c>/v1/*</c> requires <c>Authorization: Bearer</c> with this key (<c>/health</c> and <c>/metrics</c> stay open).</summary>
    public string? ApiKey { get; set; }

    /// <summary><c>f32</c>, <c>bf16</c> or <c>f16</c>; null keeps the checkpoint's dtype.</summary>
    public string? DType { get; set; }

    /// <summary><c>cpu</c> (default), <c>cuda</c> or <c>cuda:N</c>.</summary>
    public string Device { get; set; } = "cpu";

    /// <summary>Attention kernel: <c>eager</c> (default) or <c>sdpa</c>.</summary>
    public string Attention { get; set; } = "eager";

    /// <summary>KV cache dtype: <c>f16</c> or <c>bf16</c> (half the cache memory under an f32 model) or <c>f32</c>; null: the model's dtype.</summary>
    public string? KvCache { get; set; }

    /// <summary>Most requests decoded together (continuous batching; default 8); more wait for a free row.</summary>
    public int MaxBatch { get; set; } = 8;

    /// <summary>Most positions of a request, prompt (media included) and answer together; null: the model's context (see <c>ModelLimits</c>). Longer prompts get 400 <c>context_length_exceeded</c>.</summary>
    public int? MaxContextTokens { get; set; }

    /// <summary>Most prompt positions computed in one forward (null: 256); longer prompts are prefilled in pieces, which bounds their memory.</summary>
    public int? PrefillChunkTokens { get; set; }

    /// <summary>Memory for the prompt cache in bytes (default 1 GiB; 0: off): a request starting like an earlier one (a chat's next turn) reuses its computed prefix, images included.</summary>
    public long PromptCacheBytes { get; set; } = LlavaModal.Multimodal.ModelLoadOptions.DefaultPromptCacheBytes;

    /// <summary>Largest request body in bytes (default 32 MB): larger requests get 413.</summary>
    public long MaxRequestBytes { get; set; } = 32L * 1024 * 1024;

    /// <summary>Most images and audio clips one request may carry (default 16).</summary>
    public int MaxMediaPerRequest { get; set; } = 16;

    /// <summary>Fetch <c>http(s)</c> image URLs (default false: only <c>data:</c> URIs are taken).</summary>
    public bool AllowRemoteMedia { get; set; }

    /// <summary>Largest remote download in bytes when <see cref="AllowRemoteMedia"/> is on (default 20 MB).</summary>
    public long MaxRemoteMediaBytes { get; set; } = 20L * 1024 * 1024;

    /// <summary>Longest a request may take, queueing included (default 10 minutes); then it is cancelled.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>On shutdown, how long running requests may still finish before they are cancelled (default 10 s).</summary>
    public TimeSpan ShutdownGrace { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Before reporting ready, run a two-token answer and a small synthetic image and audio clip (through their encoders)
    /// once (default true): the first request then does not pay for .NET compiling the code it runs.
    /// </summary>
    public bool WarmUp { get; set; } = true;

    /// <summary>Checks the options, naming the first bad one.</summary>
    /// <exception cref="ArgumentException">A missing model folder or a value out of range.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ModelDirectory)) throw new ArgumentException("ServerOptions.ModelDirectory (--model) is required.");
        if (Port is < 0 or > 65535) throw new ArgumentException($"--port {Port} is not a TCP port (0-65535).");
        if (MaxRequestBytes < 1024) throw new ArgumentException($"--max-request-bytes {MaxRequestBytes} is below 1024.");
        if (MaxMediaPerRequest < 0) throw new ArgumentException($"--max-media {MaxMediaPerRequest} must be 0 or more.");
        if (MaxContextTokens is < 1) throw new ArgumentException($"--max-context-tokens {MaxContextTokens} must be 1 or more.");
        if (PrefillChunkTokens is < 1) throw new ArgumentException($"--prefill-chunk-tokens {PrefillChunkTokens} must be 1 or more.");
        if (PromptCacheBytes < 0) throw new ArgumentException($"--prompt-cache-mb must be 0 (off) or more, got {PromptCacheBytes / (1024 * 1024)}.");
        if (MaxBatch < 1) throw new ArgumentException($"--max-batch {MaxBatch} must be 1 or more.");
        if (RequestTimeout <= TimeSpan.Zero) throw new ArgumentException($"--request-timeout {RequestTimeout} must be positive.");
        if (ApiKey is { Length: 0 }) throw new ArgumentException("--api-key must not be empty.");
    }
}
