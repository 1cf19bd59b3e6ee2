using LlavaModal.Abstractions;
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
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

// Extension methods on IServiceCollection live in this namespace by .NET convention, so they are found without a using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registration of LlavaModal models, their built-in parts and your own plugins.</summary>
public static class LlavaModalServiceCollectionExtensions
{
    /// <summary>
    /// Registers a <see cref="MultimodalModel"/> singleton, loaded on first resolution from <see cref="LlavaModalOptions"/>
    /// with every part in the container: the built-in decoder families and vision towers and the LLaVA image plugin, plus
    /// whatever is added on the returned builder (decoder families, vision towers, attention kernels, linear factories,
    /// modality plugins). The options are validated when first built and at host start (<c>ValidateOnStart</c>).
    /// </summary>
    /// <example><code>
    /// services.AddLlavaModal(o => o.ModelDirectory = "models/llava-1.5-7b-hf")
    ///         .AddModalityEncoder&lt;MyThermalEncoder&gt;("linear");
    /// </code></example>
    public static LlavaModalBuilder AddLlavaModal(this IServiceCollection services, Action<LlavaModalOptions>? configure = null, LlavaVisionOptions? vision = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        return Register(services, null, nameof(LlavaModalOptions), o => { if (configure is not null) o.Configure(configure); }, vision);
    }

    /// <summary>
    /// Registers the model with <see cref="LlavaModalOptions"/> bound from <paramref name="section"/> (for example
    /// <c>builder.Configuration.GetSection("LlavaModal")</c>: <c>ModelDirectory</c>, <c>DType</c>, <c>Device</c>, ...).
    /// Errors name the key by its full path (<c>LlavaModal:DType</c>).
    /// </summary>
    public static LlavaModalBuilder AddLlavaModal(this IServiceCollection services, IConfiguration section, LlavaVisionOptions? vision = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(section);
        return Register(services, null, KeyPrefix(section), o => o.Bind(section), vision);
    }

    /// <summary>
    /// Registers one more model, keyed by <paramref name="name"/>: resolve it with
    /// <c>GetRequiredKeyedService&lt;MultimodalModel&gt;(name)</c>, or serve it with
    /// <c>AddLlavaChatClient(o =&gt; o.ModelName = name)</c>. Plugins added on the returned builder belong to this model only;
    /// decoder families, vision towers, kernels and linear factories are shared by every model in the container.
    /// </summary>
    /// <example><code>
    /// services.AddLlavaModal("vision", o => o.ModelDirectory = "models/llava-1.5-7b-hf");
    /// services.AddLlavaModal("qwen", o => o.ModelDirectory = "models/llava-interleave-qwen-0.5b-hf");
    /// </code></example>
    public static LlavaModalBuilder AddLlavaModal(this IServiceCollection services, string name, Action<LlavaModalOptions> configure, LlavaVisionOptions? vision = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configure);
        return Register(services, name, $"{nameof(LlavaModalOptions)}[{name}]", o => o.Configure(configure), vision);
    }

    /// <summary>Registers one more model, keyed by <paramref name="name"/>, with options bound from <paramref name="section"/>.</summary>
    public static LlavaModalBuilder AddLlavaModal(this IServiceCollection services, string name, IConfiguration section, LlavaVisionOptions? vision = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(section);
        return Register(services, name, KeyPrefix(section), o => o.Bind(section), vision);
    }

    /// <summary>Whether a model is registered under <paramref name="name"/> (null: the default, unkeyed model).</summary>
    internal static bool HasModel(IServiceCollection services, string? name) =>
        services.Any(d => d.ServiceType == typeof(MultimodalModel) && (name is null ? !d.IsKeyedService : d.IsKeyedService && Equals(d.ServiceKey, name)));

    /// <summary>
    /// Loads the model registered under <paramref name="name"/> (null: the default one) on a thread-pool thread, so a
    /// host's start-up (an <c>IHostedService</c>) does not block on reading the weights. Later resolutions return it.
    /// </summary>
    /// <exception cref="OptionsValidationException">The options are invalid (every bad key named).</exception>
    public static Task<MultimodalModel> LoadLlavaModelAsync(this IServiceProvider services, string? name = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(services);
        return Task.Run(() => name is null ? services.GetRequiredService<MultimodalModel>() : services.GetRequiredKeyedService<MultimodalModel>(name), cancellationToken);
    }

    static string KeyPrefix(IConfiguration section) => section is IConfigurationSection s && s.Path.Length > 0 ? s.Path : nameof(LlavaModalOptions);

    static LlavaModalBuilder Register(IServiceCollection services, string? name, string keyPrefix, Action<OptionsBuilder<LlavaModalOptions>> configure, LlavaVisionOptions? vision)
    {
        var optionsName = name ?? Microsoft.Extensions.Options.Options.DefaultName;
        var options = services.AddOptions<LlavaModalOptions>(optionsName);
        configure(options);
        if (name is null && HasModel(services, null)) return new LlavaModalBuilder(services);   // the default model again: more configuration only
        options.ValidateOnStart();
        services.AddSingleton<IValidateOptions<LlavaModalOptions>>(new LlavaModalOptionsValidator(optionsName, keyPrefix));
        if (name is null)
        {
            services.AddSingleton<IModalityEncoderFactory>(new LlavaVisionFactory(vision));
            services.TryAddSingleton(sp => Load(sp, null));
        }
        else
        {
            if (HasModel(services, name)) throw new InvalidOperationException($"A LlavaModal model named '{name}' is already registered.");
            services.AddKeyedSingleton<IModalityEncoderFactory>(name, new LlavaVisionFactory(vision));
            services.AddKeyedSingleton(name, (sp, _) => Load(sp, name));
        }
        return new LlavaModalBuilder(services) { Name = name };
    }

    static MultimodalModel Load(IServiceProvider sp, string? name)
    {
        var logger = sp.GetService<ILoggerFactory>()?.CreateLogger("LlavaModal") ?? NullLogger.Instance;
        // Get validates: a bad key fails here (or at host start) with its path, before any file is read.
        var options = sp.GetRequiredService<IOptionsMonitor<LlavaModalOptions>>().Get(name ?? Microsoft.Extensions.Options.Options.DefaultName);
        var plugins = name is null ? sp.GetServices<IModalityEncoderFactory>() : sp.GetKeyedServices<IModalityEncoderFactory>(name);
        try
        {
            var model = MultimodalModel.Load(options.ModelDirectory!, plugins, options.ToLoadOptions(Catalog(sp)), logger);
            if (options.WarmUp) WarmUp(model, logger);
            return model;
        }
        catch (Exception e)
        {
            LlavaLog.ModelLoadFailed(logger, name ?? "(default)", options.ModelDirectory, e);
            throw;
        }
    }

    /// <summary>Runs the model's warm-up; a failure is logged, not thrown: the model serves as it would without one.</summary>
    static void WarmUp(MultimodalModel model, ILogger logger)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            model.WarmUp();
            LlavaLog.ModelWarmedUp(logger, model.ModelId, clock.ElapsedMilliseconds);
        }
        catch (Exception e) when (e is LlavaModalException or InvalidOperationException or IOException)
        {
            LlavaLog.ModelWarmUpFailed(logger, model.ModelId, e.Message, e);
        }
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
    /// On a named model's builder it belongs to that model only.
    /// </summary>
    /// <param name="builder">The builder from <c>AddLlavaModal</c>.</param>
    /// <param name="projectorType"><c>identity</c>, <c>linear</c> or <c>mlpNx_gelu</c> (weights from <c>{modality}_projector.*</c> when the checkpoint has them).</param>
    /// <param name="seed">Seed of a freshly initialised projector.</param>
    public static LlavaModalBuilder AddModalityEncoder<TEncoder>(this LlavaModalBuilder builder, string projectorType = "linear", long seed = 0)
        where TEncoder : class, IModalityEncoder
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (builder.Name is { } name)
        {
            builder.Services.TryAddKeyedSingleton<TEncoder>(name);
            builder.Services.AddKeyedSingleton<IModalityEncoderFactory>(name, (sp, _) => new RegisteredEncoderFactory(sp.GetRequiredKeyedService<TEncoder>(name), projectorType, seed));
        }
        else
        {
            builder.Services.TryAddSingleton<TEncoder>();
            builder.Services.AddSingleton<IModalityEncoderFactory>(sp => new RegisteredEncoderFactory(sp.GetRequiredService<TEncoder>(), projectorType, seed));
        }
        return builder;
    }
}
