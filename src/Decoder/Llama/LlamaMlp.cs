using LlavaModal.Core.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Llama;

/// <summary>SwiGLU MLP: <c>down(silu(gate(x)) * up(x))</c>.</summary>
internal sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly nn.Module<Tensor, Tensor> gate_proj, up_proj, down_proj;
#pragma warning restore IDE1006

    public LlamaMlp(LlamaConfig c, ScalarType dtype, Device? device) : base(nameof(LlamaMlp))
    {
        gate_proj = WeightInit.Linear(c.HiddenSize, c.IntermediateSize, c.MlpBias, device, dtype);
        up_proj = WeightInit.Linear(c.HiddenSize, c.IntermediateSize, c.MlpBias, device, dtype);
        down_proj = WeightInit.Linear(c.IntermediateSize, c.HiddenSize, c.MlpBias, device, dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var gate = gate_proj.forward(x);
        using var activated = nn.functional.silu(gate);
        using var up = up_proj.forward(x);
        using var product = activated * up;
        return down_proj.forward(product);
    }
}
