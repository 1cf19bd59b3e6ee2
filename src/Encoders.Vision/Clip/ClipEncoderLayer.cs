using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Tensors;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Clip;

/// <summary>Pre-norm transformer layer: <c>h = x + attn(ln1(x)); out = h + mlp(ln2(h))</c>.</summary>
sealed class ClipEncoderLayer : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly LayerNorm layer_norm1, layer_norm2;
    readonly ClipAttention self_attn;
    readonly ClipMlp mlp;
#pragma warning restore IDE1006

    public ClipEncoderLayer(ClipVisionConfig c, ModelBuildContext build) : base(nameof(ClipEncoderLayer))
    {
        layer_norm1 = nn.LayerNorm(c.HiddenSize, c.LayerNormEps, device: build.Device, dtype: build.DType);
        self_attn = new ClipAttention(c, build);
        layer_norm2 = nn.LayerNorm(c.HiddenSize, c.LayerNormEps, device: build.Device, dtype: build.DType);
        mlp = new ClipMlp(c, build);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = x.Plus(self_attn.forward(layer_norm1.forward(x)));
        return h.Plus(mlp.forward(layer_norm2.forward(h))).MoveToOuterDisposeScope();
    }
}
