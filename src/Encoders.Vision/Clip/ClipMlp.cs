using LlavaModal.Abstractions.Layers;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Clip;

/// <summary>Feed-forward block: <c>fc2(act(fc1(x)))</c>, <c>act</c> being quick_gelu for OpenAI CLIP.</summary>
sealed class ClipMlp : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly nn.Module<Tensor, Tensor> fc1, fc2;
#pragma warning restore IDE1006
    readonly Func<Tensor, Tensor> activation;

    public ClipMlp(ClipVisionConfig c, ModelBuildContext build) : base(nameof(ClipMlp))
    {
        activation = c.Activation;
        fc1 = build.Linear.Create(new LinearSpec("fc1", c.HiddenSize, c.IntermediateSize, Bias: true), build.DType, build.Device);
        fc2 = build.Linear.Create(new LinearSpec("fc2", c.IntermediateSize, c.HiddenSize, Bias: true), build.DType, build.Device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return fc2.forward(activation(fc1.forward(x))).MoveToOuterDisposeScope();
    }
}
