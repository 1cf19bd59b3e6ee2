using LlavaModal.Multimodal;
using LlavaModal.Multimodal.DependencyInjection;
using LlavaModal.SemanticKernel.Services;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.SemanticKernel.ChatCompletion;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers LLaVA chat services: <see cref="IChatClient"/> and Semantic Kernel's <see cref="IChatCompletionService"/>.</summary>
public static class LlavaServiceCollectionExtensions
{
    /// <summary>
    /// Registers a Semantic Kernel <see cref="IChatCompletionService"/> answering from the LLaVA model in <paramref name="modelDirectory"/>.
    /// The model is loaded once (at the first request) and shared with every other LLaVA service in the container.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="modelDirectory">Hugging Face model folder (config, safetensors, tokenizer).</param>
    /// <param name="serviceId">Key of the service, for selecting it among several (null: the default registration).</param>
    public static IServiceCollection AddLlavaChatCompletion(this IServiceCollection services, string modelDirectory, string? serviceId = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelDirectory);
        return services.AddLlavaChatCompletion(o => o.ModelDirectory = modelDirectory, serviceId);
    }

    /// <summary>Registers a Semantic Kernel <see cref="IChatCompletionService"/> configured by <paramref name="configure"/> (see <see cref="LlavaChatClientOptions"/>).</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Model, load timing, tool handling, remote media. Runs at registration and again whenever the options are built.</param>
    /// <param name="serviceId">Key of the service (null: the default registration).</param>
    public static IServiceCollection AddLlavaChatCompletion(this IServiceCollection services, Action<LlavaChatClientOptions>? configure, string? serviceId = null)
    {
        AddClient(services, serviceId, Scratch(configure), o => { if (configure is not null) o.Configure(configure); });
        AddCompletion(services, serviceId);
        return services;
    }

    /// <summary>
    /// Registers a Semantic Kernel <see cref="IChatCompletionService"/> with <see cref="LlavaChatClientOptions"/> bound from
    /// <paramref name="section"/> (<c>ModelDirectory</c>, <c>ModelName</c>, <c>DType</c>, <c>RejectTools</c>, ...), following its changes.
    /// </summary>
    public static IServiceCollection AddLlavaChatCompletion(this IServiceCollection services, IConfiguration section, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(section);
        AddClient(services, serviceId, section.Get<LlavaChatClientOptions>() ?? new(), o => o.Bind(section));
        AddCompletion(services, serviceId);
        return services;
    }

    /// <summary>
    /// Registers a Microsoft.Extensions.AI <see cref="IChatClient"/> answering from the LLaVA model in <paramref name="modelDirectory"/>
    /// (for Microsoft Agent Framework's <c>ChatClientAgent</c> and any IChatClient consumer).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="modelDirectory">Hugging Face model folder.</param>
    /// <param name="serviceId">Key of the client (null: the default registration).</param>
    /// <returns>The client's pipeline, for middleware: <c>.UseLogging()</c>, <c>.UseOpenTelemetry()</c>, <c>.UseDistributedCache()</c>, <c>.Use(...)</c>.</returns>
    public static ChatClientBuilder AddLlavaChatClient(this IServiceCollection services, string modelDirectory, string? serviceId = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelDirectory);
        return services.AddLlavaChatClient(o => o.ModelDirectory = modelDirectory, serviceId);
    }

    /// <summary>Registers a Microsoft.Extensions.AI <see cref="IChatClient"/> configured by <paramref name="configure"/>.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Model, load timing, tool handling, remote media. Runs at registration and again whenever the options are built.</param>
    /// <param name="serviceId">Key of the client (null: the default registration).</param>
    /// <returns>The client's pipeline, for middleware (<c>UseLogging</c>, <c>UseOpenTelemetry</c>, <c>UseDistributedCache</c>).</returns>
    /// <example><code>
    /// services.AddLlavaChatClient(o => o.ModelDirectory = "models/llava-1.5-7b-hf")
    ///         .UseLogging()
    ///         .UseOpenTelemetry();
    /// </code></example>
    public static ChatClientBuilder AddLlavaChatClient(this IServiceCollection services, Action<LlavaChatClientOptions>? configure, string? serviceId = null)
    {
        AddClient(services, serviceId, Scratch(configure), o => { if (configure is not null) o.Configure(configure); });
        return AddChatClient(services, serviceId);
    }

    /// <summary>
    /// Registers a Microsoft.Extensions.AI <see cref="IChatClient"/> with <see cref="LlavaChatClientOptions"/> bound from
    /// <paramref name="section"/>, following its changes.
    /// </summary>
    /// <returns>The client's pipeline, for middleware.</returns>
    public static ChatClientBuilder AddLlavaChatClient(this IServiceCollection services, IConfiguration section, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(section);
        AddClient(services, serviceId, section.Get<LlavaChatClientOptions>() ?? new(), o => o.Bind(section));
        return AddChatClient(services, serviceId);
    }

    static LlavaChatClientOptions Scratch(Action<LlavaChatClientOptions>? configure)
    {
        var options = new LlavaChatClientOptions();
        configure?.Invoke(options);
        return options;
    }

    static void AddCompletion(IServiceCollection services, string? serviceId) =>
        services.AddKeyedSingleton<IChatCompletionService>(serviceId, (sp, _) => new LlavaChatCompletionService(sp.GetRequiredKeyedService<LlavaChatClient>(serviceId), sp));

    static ChatClientBuilder AddChatClient(IServiceCollection services, string? serviceId) =>
        serviceId is null
            ? services.AddChatClient(sp => sp.GetRequiredService<LlavaChatClient>())
            : services.AddKeyedChatClient(serviceId, sp => sp.GetRequiredKeyedService<LlavaChatClient>(serviceId));

    /// <summary>
    /// One <see cref="LlavaChatClient"/> per service id (shared by the IChatClient and IChatCompletionService registrations
    /// of that id) over the model its options name: the container's default <see cref="MultimodalModel"/>, or the one
    /// registered under <see cref="LlavaChatClientOptions.ModelName"/>. Its options are the named options of the service id,
    /// read at every request.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="serviceId">The service id (null: the default).</param>
    /// <param name="atRegistration">The options as they are now: they decide which model is registered and how it loads.</param>
    /// <param name="configure">Configures the monitored options.</param>
    static void AddClient(IServiceCollection services, string? serviceId, LlavaChatClientOptions atRegistration, Action<OptionsBuilder<LlavaChatClientOptions>> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        var optionsName = serviceId ?? Microsoft.Extensions.Options.Options.DefaultName;
        configure(services.AddOptions<LlavaChatClientOptions>(optionsName));

        var modelName = atRegistration.ModelName;
        // The model registration is LlavaModal's own (with the CLIP image plugin); it is added once, so plugins added on
        // an earlier AddLlavaModal(...) builder are kept.
        if (!LlavaModalServiceCollectionExtensions.HasModel(services, modelName))
        {
            if (modelName is null) services.AddLlavaModal();
            else services.AddLlavaModal(modelName, _ => { });
        }
        services.Configure<LlavaModalOptions>(modelName ?? Microsoft.Extensions.Options.Options.DefaultName, o =>
        {
            o.ModelDirectory ??= atRegistration.ModelDirectory;
            if (atRegistration.Device is { } device) o.Device = device;
            if (atRegistration.DType is { } dtype) o.DType = dtype;
            if (atRegistration.ChatTemplate is { } template) o.ChatTemplate = template;
        });

        services.TryAddKeyedSingleton(serviceId, (sp, _) =>
        {
            var modelOptions = sp.GetRequiredService<IOptionsMonitor<LlavaModalOptions>>().Get(modelName ?? Microsoft.Extensions.Options.Options.DefaultName);
            if (atRegistration.ModelDirectory is { } wanted && modelOptions.ModelDirectory is { } registered && !SameFolder(wanted, registered))
                throw new InvalidOperationException(
                    $"The LlavaModal model{(modelName is null ? "" : $" '{modelName}'")} is '{registered}', and a LLaVA service{(serviceId is null ? "" : $" '{serviceId}'")} asks for '{wanted}'. " +
                    "To serve several models from one container, name each: services.AddLlavaModal(\"name\", o => o.ModelDirectory = ...) and LlavaChatClientOptions.ModelName = \"name\".");
            var directory = modelOptions.ModelDirectory;
            var modelId = directory is null ? null : Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));
            var monitor = sp.GetRequiredService<IOptionsMonitor<LlavaChatClientOptions>>();
            var host = new LlavaModelHost(() => modelName is null ? sp.GetRequiredService<MultimodalModel>() : sp.GetRequiredKeyedService<MultimodalModel>(modelName), modelId);
            var client = new LlavaChatClient(host, () => monitor.Get(optionsName), sp.GetService<ILoggerFactory>());
            if (monitor.Get(optionsName).LoadEagerly) _ = client.Model;
            return client;
        });
    }

    static bool SameFolder(string a, string b) =>
        string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(a)), Path.TrimEndingDirectorySeparator(Path.GetFullPath(b)), StringComparison.Ordinal);
}
