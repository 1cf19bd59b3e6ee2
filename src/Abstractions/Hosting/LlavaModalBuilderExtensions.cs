using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Hosting;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Vision;

// Extension methods on the DI builder live in this namespace by .NET convention, so they are found without a using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Registers parts on the builder <c>AddLlavaModal</c> returns; the model is assembled from whatever is registered
/// when it loads, so a package that brings a decoder family, a vision tower, an attention kernel, a linear layer
/// format or a modality plugin needs only this assembly.
/// </summary>
public static class LlavaModalBuilderExtensions
{
    /// <summary>Adds a decoder family: folders whose (text) config names one of its <c>model_type</c>s load with it.</summary>
    public static LlavaModalBuilder AddDecoderFamily(this LlavaModalBuilder builder, IDecoderFamily family)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(family);
        builder.Services.AddSingleton(family);
        return builder;
    }

    /// <summary>Adds a vision tower: folders whose <c>vision_config.model_type</c> names it load with it.</summary>
    public static LlavaModalBuilder AddVisionTower(this LlavaModalBuilder builder, IVisionTowerFamily tower)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(tower);
        builder.Services.AddSingleton(tower);
        return builder;
    }

    /// <summary>Adds an attention kernel, selectable by name in the options (<c>LlavaModalOptions.Attention</c>).</summary>
    public static LlavaModalBuilder AddAttentionKernel(this LlavaModalBuilder builder, IAttentionKernel kernel)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(kernel);
        builder.Services.AddSingleton(kernel);
        return builder;
    }

    /// <summary>Adds a linear layer factory (a weight format or adapter), selectable by name in the options (<c>LlavaModalOptions.Linear</c>).</summary>
    public static LlavaModalBuilder AddLinearFactory(this LlavaModalBuilder builder, ILinearFactory factory)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(factory);
        builder.Services.AddSingleton(factory);
        return builder;
    }

    /// <summary>Adds a plugin factory (a plugin that loads its own weights from the model folder); on a named model's builder, for that model only.</summary>
    public static LlavaModalBuilder AddModalityEncoderFactory(this LlavaModalBuilder builder, IModalityEncoderFactory factory)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(factory);
        if (builder.Name is { } name) builder.Services.AddKeyedSingleton(name, factory);
        else builder.Services.AddSingleton(factory);
        return builder;
    }
}
