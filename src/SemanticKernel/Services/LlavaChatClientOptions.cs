namespace LlavaModal.SemanticKernel.Services;

/// <summary>
/// How the LLaVA chat services load the model and treat requests. Registered as named options (the name is the service
/// id, empty for the default), so they can come from configuration and follow its changes: <see cref="RejectTools"/>,
/// <see cref="RemoteMediaClient"/> and <see cref="MaxRemoteMediaBytes"/> are read at every request; the model settings
/// (<see cref="ModelName"/>, <see cref="ModelDirectory"/>, <see cref="Device"/>, <see cref="DType"/>,
/// <see cref="ChatTemplate"/>, <see cref="LoadEagerly"/>) take effect when the model loads.
/// </summary>
public sealed class LlavaChatClientOptions
{
    /// <summary>
    /// The Hugging Face model folder. Null uses the model already registered with <c>services.AddLlavaModal(...)</c>
    /// (the way to add plugins such as audio). Without <see cref="ModelName"/>, one model is served per service
    /// provider, shared by every service id.
    /// </summary>
    public string? ModelDirectory { get; set; }

    /// <summary>
    /// Serve the model registered with <c>services.AddLlavaModal(name, ...)</c> under this name (a keyed service), so one
    /// container can serve several models. With <see cref="ModelDirectory"/> set and no model of that name registered,
    /// one is registered. Null: the default model.
    /// </summary>
    public string? ModelName { get; set; }

    /// <summary><c>cpu</c> (default), <c>cuda</c> or <c>cuda:N</c>; null keeps the registered model's setting.</summary>
    public string? Device { get; set; }

    /// <summary><c>f32</c>, <c>bf16</c> or <c>f16</c>; null keeps the checkpoint's dtype.</summary>
    public string? DType { get; set; }

    /// <summary>Overrides the detected chat template (<c>vicuna_v1</c>, <c>llama2</c>, <c>llama3</c>, <c>chatml</c>).</summary>
    public string? ChatTemplate { get; set; }

    /// <summary>
    /// Load the model when the service is first resolved instead of at the first request (default false: first request).
    /// Either way it is loaded once; a bad folder fails with the loader's error naming the file.
    /// </summary>
    public bool LoadEagerly { get; set; }

    /// <summary>
    /// LLaVA cannot call functions. False (default): tools offered by a request (<c>ChatOptions.Tools</c>, a
    /// <c>FunctionChoiceBehavior</c> with functions) are ignored with a logged warning and the model still answers.
    /// True: such a request fails with <see cref="NotSupportedException"/>.
    /// </summary>
    public bool RejectTools { get; set; }

    /// <summary>
    /// Remote images (<c>http</c>/<c>https</c> URIs) are refused unless this is set: the client then downloads them
    /// with it. The application owns the client (timeouts, proxies, allowed hosts via its handler).
    /// </summary>
    public HttpClient? RemoteMediaClient { get; set; }

    /// <summary>Largest remote download accepted, in bytes (default 20 MB).</summary>
    public long MaxRemoteMediaBytes { get; set; } = 20 * 1024 * 1024;
}
