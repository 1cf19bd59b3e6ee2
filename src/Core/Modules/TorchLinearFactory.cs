using LlavaModal.Abstractions.Layers;
using LlavaModal.Core.Checkpoints;
using static TorchSharp.torch;

namespace LlavaModal.Core.Modules;

/// <summary>
/// The default linear layers: TorchSharp <c>Linear</c> (parameters <c>weight</c> [out, in] and <c>bias</c>, as
/// checkpoints store them), left uninitialised inside <see cref="WeightInit.SkipRandomInit"/> because loading overwrites them.
/// </summary>
public sealed class TorchLinearFactory : ILinearFactory
{
    /// <summary>The factory's name in load options.</summary>
    public const string FactoryName = "torch";

    /// <summary>The shared instance.</summary>
    public static TorchLinearFactory Instance { get; } = new();

    /// <inheritdoc />
    public string Name => FactoryName;

    /// <inheritdoc />
    public nn.Module<Tensor, Tensor> Create(LinearSpec spec, ScalarType dtype, Device device)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return WeightInit.Linear(spec.InFeatures, spec.OutFeatures, spec.Bias, device, dtype);
    }
}
