using LlavaModal.Abstractions.Layers;
using LlavaModal.Core.Quantization;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Llama;

/// <summary>SwiGLU MLP: <c>down(silu(gate(x)) * up(x))</c>.</summary>
sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly nn.Module<Tensor, Tensor> gate_proj, up_proj, down_proj;
#pragma warning restore IDE1006

    public LlamaMlp(ILlamaLayers c, ModelBuildContext build) : base(nameof(LlamaMlp))
    {
        gate_proj = build.Linear.Create(new LinearSpec("gate_proj", c.HiddenSize, c.IntermediateSize, c.MlpBias), build.DType, build.Device);
        up_proj = build.Linear.Create(new LinearSpec("up_proj", c.HiddenSize, c.IntermediateSize, c.MlpBias), build.DType, build.Device);
        down_proj = build.Linear.Create(new LinearSpec("down_proj", c.IntermediateSize, c.HiddenSize, c.MlpBias), build.DType, build.Device);
        RegisterComponents();
    }

    internal (nn.Module<Tensor, Tensor> Gate, nn.Module<Tensor, Tensor> Up, nn.Module<Tensor, Tensor> Down) Projections => (gate_proj, up_proj, down_proj);

    public override Tensor forward(Tensor x)
    {
        // Decode-sized inputs on packed layers: gate, up, silu · up and down in one call.
        if (PackedProjections.SwiGlu(gate_proj, up_proj, down_proj, x) is { } fused) return fused;
        using var gate = gate_proj.forward(x);
        using var activated = nn.functional.silu(gate);
        using var up = up_proj.forward(x);
        using var product = activated * up;
        return down_proj.forward(product);
    }
}
