using LlavaModal.Abstractions.Hosting;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal.DependencyInjection;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers LLaVA models with their built-in image plugin.</summary>
public static class LlavaVisionServiceCollectionExtensions
{
    /// <summary>
    /// Registers a <see cref="LlavaModal.Multimodal.MultimodalModel"/> singleton for the configured folder, with
    /// the CLIP image plugin (used when the folder is a LLaVA checkpoint). Add other plugins on the returned builder.
    /// </summary>
    /// <example><code>
    /// services.AddLlavaModal(o => o.ModelDirectory = "models/llava-1.5-7b-hf")
    ///         .AddModalityEncoder&lt;MyThermalEncoder&gt;("linear");
    /// </code></example>
    public static LlavaModalBuilder AddLlavaModal(this IServiceCollection services, Action<LlavaModalOptions>? configure = null, LlavaVisionOptions? vision = null)
    {
        var builder = services.AddLlavaModalCore(configure);
        services.AddSingleton<IModalityEncoderFactory>(new LlavaVisionFactory(vision));
        return builder;
    }
}
