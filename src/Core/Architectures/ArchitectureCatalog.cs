using LlavaModal.Abstractions.Architectures;
using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Core.Attention;
using LlavaModal.Core.Modules;

namespace LlavaModal.Core.Architectures;

/// <summary>
/// A registry of decoder families, vision towers, attention kernels and linear factories, filled by registration (the
/// built-in parts, then whatever an application or a DI container adds). A later registration of the same name wins,
/// so an application can replace a built-in part.
/// </summary>
public sealed class ArchitectureCatalog : IArchitectureCatalog
{
    readonly Dictionary<string, IDecoderFamily> decoders = new(StringComparer.Ordinal);
    readonly Dictionary<string, IVisionTowerFamily> towers = new(StringComparer.Ordinal);
    readonly Dictionary<string, IAttentionKernel> kernels = new(StringComparer.Ordinal);
    readonly Dictionary<string, ILinearFactory> linears = new(StringComparer.Ordinal);

    /// <summary>A catalog with the kernels and the linear factory of this assembly (<c>eager</c>, <c>sdpa</c>, <c>torch</c>) and no model families.</summary>
    public ArchitectureCatalog()
    {
        Add(new EagerAttention());
        Add(new SdpaAttention());
        Add(TorchLinearFactory.Instance);
    }

    /// <summary>Registers a decoder family under each of its model types.</summary>
    public ArchitectureCatalog Add(IDecoderFamily family)
    {
        ArgumentNullException.ThrowIfNull(family);
        foreach (var type in family.ModelTypes) decoders[type] = family;
        return this;
    }

    /// <summary>Registers a vision tower under each of its model types.</summary>
    public ArchitectureCatalog Add(IVisionTowerFamily tower)
    {
        ArgumentNullException.ThrowIfNull(tower);
        foreach (var type in tower.ModelTypes) towers[type] = tower;
        return this;
    }

    /// <summary>Registers an attention kernel under its name.</summary>
    public ArchitectureCatalog Add(IAttentionKernel kernel)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        kernels[kernel.Name] = kernel;
        return this;
    }

    /// <summary>Registers a linear factory under its name.</summary>
    public ArchitectureCatalog Add(ILinearFactory factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        linears[factory.Name] = factory;
        return this;
    }

    /// <inheritdoc />
    public IDecoderFamily? FindDecoder(string modelType) => decoders.GetValueOrDefault(modelType);

    /// <inheritdoc />
    public IVisionTowerFamily? FindVisionTower(string modelType) => towers.GetValueOrDefault(modelType);

    /// <inheritdoc />
    public IAttentionKernel? FindAttention(string name) => kernels.GetValueOrDefault(name);

    /// <inheritdoc />
    public ILinearFactory? FindLinear(string name) => linears.GetValueOrDefault(name);

    /// <inheritdoc />
    public IReadOnlyList<string> DecoderTypes => [.. decoders.Keys.Order(StringComparer.Ordinal)];

    /// <inheritdoc />
    public IReadOnlyList<string> VisionTowerTypes => [.. towers.Keys.Order(StringComparer.Ordinal)];

    /// <inheritdoc />
    public IReadOnlyList<string> AttentionNames => [.. kernels.Keys.Order(StringComparer.Ordinal)];

    /// <inheritdoc />
    public IReadOnlyList<string> LinearNames => [.. linears.Keys.Order(StringComparer.Ordinal)];
}
