using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Hosting;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Core.Architectures;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.DependencyInjection;
using LlavaModal.Multimodal.Loading;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

// Extension methods on IServiceCollection live in this namespace by .NET convention, so they are found without a using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registration of a LlavaModal model, its built-in parts and your own plugins.</summary>
public static class LlavaModalServiceCollectionExtensions
{
    /// <summary>
    /// Registers a <see cref="MultimodalModel"/> singleton, loaded on first resolution from <see cref="LlavaModalOptions"/>
    /// with every part in the container: the built-in decoder families and vision towers and the LLaVA image plugin, plus
    /// whatever is added on the returned builder (decoder families, vision towers, attention kernels, linear factories,
    /// modality plugins).
    /// </summary>
    /// <example><code>
    /// services.AddLlavaModal(o => o.ModelDirectory = "models/llava-1.5-7b-hf")
    ///         .AddModalityEncoder&lt;MyThermalEncoder&gt;("linear");
    /// </code></example>
    public static LlavaModalBuilder AddLlavaModal(this IServiceCollection services, Action<LlavaModalOptions>? configure = null, LlavaVisionOptions? vision = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (configure is not null) services.Configure(configure);
        else services.AddOptions<LlavaModalOptions>();
        services.AddSingleton<IModalityEncoderFactory>(new LlavaVisionFactory(vision));
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<LlavaModalOptions>>().Value;
            if (string.IsNullOrWhiteSpace(options.ModelDirectory))
                throw new InvalidOperationException("LlavaModalOptions.ModelDirectory is not set; pass it to AddLlavaModal.");
            var logger = sp.GetService<ILoggerFactory>()?.CreateLogger("LlavaModal") ?? NullLogger.Instance;
            return MultimodalModel.Load(options.ModelDirectory, sp.GetServices<IModalityEncoderFactory>(), options.ToLoadOptions(Catalog(sp)), logger);
        });
        return new LlavaModalBuilder(services);
    }

    /// <summary>The built-in parts, then the container's registrations (which replace built-ins of the same name).</summary>
    static ArchitectureCatalog Catalog(IServiceProvider sp)
    {
        var catalog = BuiltInArchitectures.Create();
        foreach (var family in sp.GetServices<IDecoderFamily>()) catalog.Add(family);
        foreach (var tower in sp.GetServices<IVisionTowerFamily>()) catalog.Add(tower);
        foreach (var kernel in sp.GetServices<IAttentionKernel>()) catalog.Add(kernel);
        foreach (var linear in sp.GetServices<ILinearFactory>()) catalog.Add(linear);
        return catalog;
    }

    /// <summary>
    /// Adds a modality plugin of your own: <typeparamref name="TEncoder"/> is created by the container (so it can take
    /// its own dependencies and options) and spliced wherever its <see cref="IModalityEncoder.Placeholder"/> appears.
    /// </summary>
    /// <param name="builder">The builder from <c>AddLlavaModal</c>.</param>
    /// <param name="projectorType"><c>identity</c>, <c>linear</c> or <c>mlpNx_gelu</c> (weights from <c>{modality}_projector.*</c> when the checkpoint has them).</param>
    /// <param name="seed">Seed of a freshly initialised projector.</param>
    public static LlavaModalBuilder AddModalityEncoder<TEncoder>(this LlavaModalBuilder builder, string projectorType = "linear", long seed = 0)
        where TEncoder : class, IModalityEncoder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddSingleton<TEncoder>();
        builder.Services.AddSingleton<IModalityEncoderFactory>(sp => new RegisteredEncoderFactory(sp.GetRequiredService<TEncoder>(), projectorType, seed));
        return builder;
    }
}
