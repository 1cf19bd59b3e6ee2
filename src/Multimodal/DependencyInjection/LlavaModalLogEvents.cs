using Microsoft.Extensions.Logging;

namespace LlavaModal.Multimodal.DependencyInjection;

/// <summary>
/// The event ids of LlavaModal's log messages, stable across versions, so hosts can filter or alert on them
/// (model loading 1000-1099, the chat services 1100-1199).
/// </summary>
public static class LlavaModalLogEvents
{
    /// <summary>A model finished loading (Information).</summary>
    public static readonly EventId ModelLoaded = new(1000, nameof(ModelLoaded));
    /// <summary>A model failed to load (Error); the exception is attached.</summary>
    public static readonly EventId ModelLoadFailed = new(1001, nameof(ModelLoadFailed));
    /// <summary>A plugin's projector has no weights in the checkpoint and starts freshly initialised (Warning).</summary>
    public static readonly EventId ProjectorInitialised = new(1002, nameof(ProjectorInitialised));
    /// <summary>A model ran its warm-up (<see cref="LlavaModalOptions.WarmUp"/>), with how long it took (Information).</summary>
    public static readonly EventId ModelWarmedUp = new(1003, nameof(ModelWarmedUp));
    /// <summary>A model's warm-up failed (Warning); the model is used anyway, the exception is attached.</summary>
    public static readonly EventId ModelWarmUpFailed = new(1004, nameof(ModelWarmUpFailed));
    /// <summary>The chat client's model is ready for its first request (Information).</summary>
    public static readonly EventId ChatModelReady = new(1100, nameof(ChatModelReady));
    /// <summary>A chat request was turned into a prompt (Debug).</summary>
    public static readonly EventId ChatRequest = new(1101, nameof(ChatRequest));
    /// <summary>A chat answer is complete, with its token counts and timings (Information).</summary>
    public static readonly EventId ChatAnswered = new(1102, nameof(ChatAnswered));
    /// <summary>A request offered tools, which LLaVA cannot call; they are ignored (Warning).</summary>
    public static readonly EventId ToolsIgnored = new(1103, nameof(ToolsIgnored));
    /// <summary>A request carried options the client does not use (Debug).</summary>
    public static readonly EventId OptionsIgnored = new(1104, nameof(OptionsIgnored));
}
