using System.Text.RegularExpressions;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Modality;
using static TorchSharp.torch;

namespace LlavaModal.Core.Modules;

/// <summary>
/// Creates projector adapters by configured type: <c>identity</c>, <c>linear</c>, or <c>mlpNx_gelu</c> (N linear
/// layers with GELU between; <c>mlp2x_gelu</c> is LLaVA-1.5's). Parameters are named <c>linear_1</c>,
/// <c>linear_2</c>, ... as in the checkpoint's <c>multi_modal_projector.*</c>.
/// </summary>
public static partial class Projectors
{
    /// <summary>Creates a projector.</summary>
    /// <param name="type"><c>identity</c>, <c>linear</c> or <c>mlpNx_gelu</c>.</param>
    /// <param name="inputWidth">Encoder width.</param>
    /// <param name="outputWidth">Decoder width.</param>
    /// <param name="activation">Activation between layers (config <c>projector_hidden_act</c>; <c>gelu</c> by default).</param>
    /// <param name="dtype">Weights dtype.</param>
    /// <param name="device">Device.</param>
    /// <param name="linear">Creates the layers (default: TorchSharp <c>Linear</c>).</param>
    /// <exception cref="ArgumentException">Unknown type, or <c>identity</c> with different widths.</exception>
    public static ProjectorModule Create(string type, int inputWidth, int outputWidth, string activation = "gelu", ScalarType dtype = ScalarType.Float32, Device? device = null, ILinearFactory? linear = null)
    {
        linear ??= TorchLinearFactory.Instance;
        if (type == "identity")
        {
            if (inputWidth != outputWidth)
                throw new ArgumentException($"Projector 'identity' needs equal widths, but the encoder gives {inputWidth} and the decoder takes {outputWidth}.", nameof(type));
            return new ProjectorModule(type, inputWidth, outputWidth, 0, activation, dtype, device, linear);
        }
        if (type == "linear") return new ProjectorModule(type, inputWidth, outputWidth, 1, activation, dtype, device, linear);
        var m = MlpPattern().Match(type);
        if (m.Success && int.TryParse(m.Groups[1].Value, out var depth) && depth >= 1)
            return new ProjectorModule(type, inputWidth, outputWidth, depth, activation, dtype, device, linear);
        throw new ArgumentException($"Unknown projector type '{type}' (supported: identity, linear, mlpNx_gelu such as mlp2x_gelu).", nameof(type));
    }

    [GeneratedRegex("^mlp(\\d+)x_gelu$")]
    private static partial Regex MlpPattern();
}

/// <summary>A projector: a stack of linear layers with an activation between them (none for identity).</summary>
public sealed class ProjectorModule : nn.Module<Tensor, Tensor>, IProjector
{
    readonly List<nn.Module<Tensor, Tensor>> layers = [];
    readonly Func<Tensor, Tensor> activation;

    internal ProjectorModule(string type, int inputWidth, int outputWidth, int depth, string activationName, ScalarType dtype, Device? device, ILinearFactory linear) : base("multi_modal_projector")
    {
        Type = type;
        InputWidth = inputWidth;
        OutputWidth = outputWidth;
        activation = Activations.Get(activationName);
        for (int i = 0; i < depth; i++)
        {
            var layer = linear.Create(new LinearSpec($"linear_{i + 1}", i == 0 ? inputWidth : outputWidth, outputWidth, Bias: true), dtype, device ?? CPU);
            layers.Add(layer);
            register_module($"linear_{i + 1}", layer);
        }
    }

    /// <inheritdoc />
    public string Type { get; }

    /// <inheritdoc />
    public int InputWidth { get; }

    /// <inheritdoc />
    public int OutputWidth { get; }

    /// <inheritdoc />
    public Tensor Project(Tensor features) => forward(features);

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        if (layers.Count == 0) return x.alias();
        using var scope = NewDisposeScope();
        var h = layers[0].forward(x);
        for (int i = 1; i < layers.Count; i++) h = layers[i].forward(activation(h));
        return h.MoveToOuterDisposeScope();
    }
}
