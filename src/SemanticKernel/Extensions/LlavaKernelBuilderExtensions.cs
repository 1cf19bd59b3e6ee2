using LlavaModal.SemanticKernel.Services;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.SemanticKernel;

/// <summary>Adds LLaVA chat services to a Semantic Kernel builder (forwarding to the service collection registrations).</summary>
public static class LlavaKernelBuilderExtensions
{
    /// <summary>Adds chat completion from the LLaVA model in <paramref name="modelDirectory"/>, loaded once at the first request.</summary>
    /// <param name="builder">The kernel builder.</param>
    /// <param name="modelDirectory">Hugging Face model folder.</param>
    /// <param name="serviceId">Key of the service, for selecting it with <c>PromptExecutionSettings.ServiceId</c> (null: the default).</param>
    /// <example><code>Kernel.CreateBuilder().AddLlavaChatCompletion("models/llava-1.5-7b-hf").Build();</code></example>
    public static IKernelBuilder AddLlavaChatCompletion(this IKernelBuilder builder, string modelDirectory, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddLlavaChatCompletion(modelDirectory, serviceId);
        return builder;
    }

    /// <summary>Adds chat completion configured by <paramref name="configure"/> (see <see cref="LlavaChatClientOptions"/>).</summary>
    /// <param name="builder">The kernel builder.</param>
    /// <param name="configure">Model folder, load timing, tool handling, remote media.</param>
    /// <param name="serviceId">Key of the service (null: the default).</param>
    public static IKernelBuilder AddLlavaChatCompletion(this IKernelBuilder builder, Action<LlavaChatClientOptions>? configure, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddLlavaChatCompletion(configure, serviceId);
        return builder;
    }

    /// <summary>Adds chat completion with <see cref="LlavaChatClientOptions"/> bound from <paramref name="section"/> (for example <c>configuration.GetSection("LlavaChat")</c>).</summary>
    /// <param name="builder">The kernel builder.</param>
    /// <param name="section">The configuration section.</param>
    /// <param name="serviceId">Key of the service (null: the default).</param>
    public static IKernelBuilder AddLlavaChatCompletion(this IKernelBuilder builder, Microsoft.Extensions.Configuration.IConfiguration section, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddLlavaChatCompletion(section, serviceId);
        return builder;
    }

    /// <summary>Adds an <see cref="Microsoft.Extensions.AI.IChatClient"/> over the LLaVA model in <paramref name="modelDirectory"/>.</summary>
    /// <param name="builder">The kernel builder.</param>
    /// <param name="modelDirectory">Hugging Face model folder.</param>
    /// <param name="serviceId">Key of the client (null: the default).</param>
    public static IKernelBuilder AddLlavaChatClient(this IKernelBuilder builder, string modelDirectory, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddLlavaChatClient(modelDirectory, serviceId);
        return builder;
    }

    /// <summary>Adds an <see cref="Microsoft.Extensions.AI.IChatClient"/> configured by <paramref name="configure"/>.</summary>
    /// <param name="builder">The kernel builder.</param>
    /// <param name="configure">Model folder, load timing, tool handling, remote media.</param>
    /// <param name="serviceId">Key of the client (null: the default).</param>
    public static IKernelBuilder AddLlavaChatClient(this IKernelBuilder builder, Action<LlavaChatClientOptions>? configure, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddLlavaChatClient(configure, serviceId);
        return builder;
    }
}
