using LlavaModal.Abstractions.Hosting;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

// Extension methods on IServiceCollection live in this namespace by .NET convention, so they are found without a using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registration of LlavaModal models and modality plugins.</summary>
public static class LlavaModalBuilderExtensions
{
    /// <summary>
    /// Registers a <see cref="MultimodalModel"/> singleton built from <see cref="LlavaModalOptions"/> and every registered
    /// <see cref="IModalityEncoderFactory"/>; it is loaded on first resolution. Modality packages add their plugins on the builder.
    /// </summary>
    public static LlavaModalBuilder AddLlavaModalCore(this IServiceCollection services, Action<LlavaModalOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (configure is not null) services.Configure(configure);
        else services.AddOptions<LlavaModalOptions>();
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<LlavaModalOptions>>().Value;
            if (string.IsNullOrWhiteSpace(options.ModelDirectory))
                throw new InvalidOperationException("LlavaModalOptions.ModelDirectory is not set; pass it to AddLlavaModal.");
            var logger = sp.GetService<ILoggerFactory>()?.CreateLogger("LlavaModal") ?? NullLogger.Instance;
            return MultimodalModel.Load(options.ModelDirectory, sp.GetServices<IModalityEncoderFactory>(), options.ToLoadOptions(), logger);
        });
        return new LlavaModalBuilder(services);
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

    /// <summary>Adds a plugin factory (a plugin that loads its own weights from the model folder).</summary>
    public static LlavaModalBuilder AddModalityEncoderFactory(this LlavaModalBuilder builder, IModalityEncoderFactory factory)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddSingleton(factory);
        return builder;
    }
}
