using Microsoft.Extensions.Logging;

namespace LlavaModal.Multimodal.DependencyInjection;

/// <summary>Log messages of model loading, with the stable event ids of <see cref="LlavaModalLogEvents"/>.</summary>
static partial class LlavaLog
{
    [LoggerMessage(EventId = 1000, EventName = nameof(LlavaModalLogEvents.ModelLoaded), Level = LogLevel.Information,
        Message = "Loaded {Model} ({Family} decoder, {Parameters:N0} parameters, {DType}, {Device}, {Attention} attention) with {Modalities} in {Ms} ms")]
    public static partial void ModelLoaded(ILogger logger, string model, string family, long parameters, string dtype, string device, string attention, string modalities, long ms);

    [LoggerMessage(EventId = 1001, EventName = nameof(LlavaModalLogEvents.ModelLoadFailed), Level = LogLevel.Error,
        Message = "LlavaModal model {Name} failed to load from {Directory}")]
    public static partial void ModelLoadFailed(ILogger logger, string name, string? directory, Exception exception);

    [LoggerMessage(EventId = 1002, EventName = nameof(LlavaModalLogEvents.ProjectorInitialised), Level = LogLevel.Warning,
        Message = "The {Modality} projector ({Type}) is freshly initialised: no {Prefix}* tensors in {Dir}. Train it (stage 1) before expecting meaningful answers.")]
    public static partial void ProjectorInitialised(ILogger logger, string modality, string type, string prefix, string dir);

    [LoggerMessage(EventId = 1003, EventName = nameof(LlavaModalLogEvents.ModelWarmedUp), Level = LogLevel.Information,
        Message = "Warmed up {Model} in {Ms} ms")]
    public static partial void ModelWarmedUp(ILogger logger, string model, long ms);

    [LoggerMessage(EventId = 1004, EventName = nameof(LlavaModalLogEvents.ModelWarmUpFailed), Level = LogLevel.Warning,
        Message = "Warming up {Model} failed ({Reason}); using it anyway")]
    public static partial void ModelWarmUpFailed(ILogger logger, string model, string reason, Exception exception);
}
