using LlavaModal.Multimodal;
using LlavaModal.Multimodal.DependencyInjection;
using LlavaModal.SemanticKernel.Services;
using Microsoft.Extensions.AI;
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
    /// <param name="configure">Model folder, load timing, tool handling, remote media.</param>
    /// <param name="serviceId">Key of the service (null: the default registration).</param>
    public static IServiceCollection AddLlavaChatCompletion(this IServiceCollection services, Action<LlavaChatClientOptions>? configure, string? serviceId = null)
    {
        AddClient(services, configure, serviceId);
        services.AddKeyedSingleton<IChatCompletionService>(serviceId, (sp, _) => new LlavaChatCompletionService(sp.GetRequiredKeyedService<LlavaChatClient>(serviceId), sp));
        return services;
    }

    /// <summary>
    /// Registers a Microsoft.Extensions.AI <see cref="IChatClient"/> answering from the LLaVA model in <paramref name="modelDirectory"/>
    /// (for Microsoft Agent Framework's <c>ChatClientAgent</c> and any IChatClient consumer).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="modelDirectory">Hugging Face model folder.</param>
    /// <param name="serviceId">Key of the client (null: the default registration).</param>
    public static IServiceCollection AddLlavaChatClient(this IServiceCollection services, string modelDirectory, string? serviceId = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelDirectory);
        return services.AddLlavaChatClient(o => o.ModelDirectory = modelDirectory, serviceId);
    }

    /// <summary>Registers a Microsoft.Extensions.AI <see cref="IChatClient"/> configured by <paramref name="configure"/>.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Model folder, load timing, tool handling, remote media.</param>
    /// <param name="serviceId">Key of the client (null: the default registration).</param>
    public static IServiceCollection AddLlavaChatClient(this IServiceCollection services, Action<LlavaChatClientOptions>? configure, string? serviceId = null)
    {
        AddClient(services, configure, serviceId);
        services.AddKeyedSingleton<IChatClient>(serviceId, (sp, _) => sp.GetRequiredKeyedService<LlavaChatClient>(serviceId));
        return services;
    }

    /// <summary>
    /// One <see cref="LlavaChatClient"/> per service id (shared by the IChatClient and IChatCompletionService registrations
    /// of that id) over the container's one <see cref="MultimodalModel"/>.
    /// </summary>
    static void AddClient(IServiceCollection services, Action<LlavaChatClientOptions>? configure, string? serviceId)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = new LlavaChatClientOptions();
        configure?.Invoke(options);

        // The model registration is LlavaModal's own (with the CLIP image plugin); it is added once, so plugins added on
        // an earlier AddLlavaModal(...) builder are kept.
        if (!services.Any(d => d.ServiceType == typeof(MultimodalModel) && !d.IsKeyedService)) services.AddLlavaModal();
        services.Configure<LlavaModalOptions>(o =>
        {
            o.ModelDirectory ??= options.ModelDirectory;
            if (options.Device is { } device) o.Device = device;
            if (options.DType is { } dtype) o.DType = dtype;
            if (options.ChatTemplate is { } template) o.ChatTemplate = template;
        });

        services.TryAddKeyedSingleton(serviceId, (sp, _) =>
        {
            var modelOptions = sp.GetRequiredService<IOptions<LlavaModalOptions>>().Value;
            if (options.ModelDirectory is { } wanted && modelOptions.ModelDirectory is { } registered && !SameFolder(wanted, registered))
                throw new InvalidOperationException($"LlavaModal serves one model per service provider: '{registered}' is registered, and a LLaVA service{(serviceId is null ? "" : $" '{serviceId}'")} asks for '{wanted}'. Use one folder, or a separate service provider per model.");
            var directory = modelOptions.ModelDirectory;
            var modelId = directory is null ? null : Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));
            var client = new LlavaChatClient(new LlavaModelHost(() => sp.GetRequiredService<MultimodalModel>(), modelId), options, sp.GetService<ILoggerFactory>());
            if (options.LoadEagerly) _ = client.Model;
            return client;
        });
    }

    static bool SameFolder(string a, string b) =>
        string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(a)), Path.TrimEndingDirectorySeparator(Path.GetFullPath(b)), StringComparison.Ordinal);
}
