using LlavaModal.Abstractions.Layers;
using LlavaModal.Core.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Core.Adapters;

/// <summary>
/// Linear layers with LoRA adapters on <see cref="LoraSettings.TargetModules"/> (matched by field name, as PEFT's
/// list form matches a module name's last part) and TorchSharp's layers elsewhere: for training an adapter (the base
/// weights are frozen, <c>lora_A</c> / <c>lora_B</c> take gradients). Inference merges adapters into the weights as
/// they are read instead (<see cref="PeftAdapter"/>), so it runs at the base model's speed in any weight format.
/// </summary>
public sealed class LoraLinearFactory : ILinearFactory
{
    /// <summary>The factory's name in load options.</summary>
    public const string FactoryName = "lora";

    /// <summary>A factory for <paramref name="settings"/>.</summary>
    /// <exception cref="ArgumentException">Settings out of range.</exception>
    public LoraLinearFactory(LoraSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        Settings = settings;
    }

    /// <summary>The adapters' shape.</summary>
    public LoraSettings Settings { get; }

    /// <inheritdoc />
    public string Name => FactoryName;

    /// <inheritdoc />
    public nn.Module<Tensor, Tensor> Create(LinearSpec spec, ScalarType dtype, Device device)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return Settings.TargetModules.Contains(spec.Name)
            ? new LoraLinear(spec.InFeatures, spec.OutFeatures, spec.Bias, Settings, dtype, device)
            : TorchLinearFactory.Instance.Create(spec, dtype, device);
    }
}
