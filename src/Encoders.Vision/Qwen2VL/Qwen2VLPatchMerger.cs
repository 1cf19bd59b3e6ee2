using LlavaModal.Abstractions.Layers;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Qwen2VL;

/// <summary>
/// The merger: LayerNorm (<c>ln_q</c>, eps 1e-6) per patch, each window of <c>spatial_merge_size</c>² consecutive patches
/// concatenated, then <c>mlp.0</c> → GELU (erf) → <c>mlp.2</c> to the decoder's width: [patches, embed] → [patches / m², hidden].
/// </summary>
sealed class Qwen2VLPatchMerger : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly LayerNorm ln_q;
    readonly ModuleList<nn.Module<Tensor, Tensor>> mlp;
#pragma warning restore IDE1006
    readonly long width;

    public Qwen2VLPatchMerger(Qwen2VLVisionConfig c, ModelBuildContext build) : base(nameof(Qwen2VLPatchMerger))
    {
        width = (long)c.EmbedDim * c.SpatialMergeSize * c.SpatialMergeSize;
        ln_q = nn.LayerNorm(c.EmbedDim, Qwen2VLVisionBlock.LayerNormEps, device: build.Device, dtype: build.DType);
        // Indices 0 and 2 hold the weights, as the reference's nn.Sequential(Linear, GELU, Linear) names them.
        mlp = new ModuleList<nn.Module<Tensor, Tensor>>(
            build.Linear.Create(new LinearSpec("0", width, width, Bias: true), build.DType, build.Device),
            nn.GELU(),
            build.Linear.Create(new LinearSpec("2", width, c.HiddenSize, Bias: true), build.DType, build.Device));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = ln_q.forward(x).view(-1, width);
        foreach (var layer in mlp) h = layer.forward(h);
        return h.MoveToOuterDisposeScope();
    }
}
