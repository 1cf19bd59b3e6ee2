using LlavaModal.Abstractions.Tensors;
using static TorchSharp.torch;

namespace LlavaModal.Core.Modules;

/// <summary>The activation functions Hugging Face configs name (<c>hidden_act</c>, <c>projector_hidden_act</c>).</summary>
public static class Activations
{
    /// <summary>Names accepted by <see cref="Get"/>.</summary>
    public static readonly IReadOnlyList<string> Supported = ["gelu", "gelu_new", "gelu_pytorch_tanh", "quick_gelu", "silu", "relu"];

    /// <summary>The function for a config name.</summary>
    /// <exception cref="ArgumentException">Unknown name (lists the supported ones).</exception>
    public static Func<Tensor, Tensor> Get(string name) => name switch
    {
        "gelu" => x => nn.functional.gelu(x),
        "gelu_new" or "gelu_pytorch_tanh" => x => nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh),
        "quick_gelu" => x => x * x.MulScalar(1.702).sigmoid(),
        "silu" => x => nn.functional.silu(x),
        "relu" => x => nn.functional.relu(x),
        _ => throw new ArgumentException($"Unsupported activation '{name}' (supported: {string.Join(", ", Supported)}).", nameof(name)),
    };
}
