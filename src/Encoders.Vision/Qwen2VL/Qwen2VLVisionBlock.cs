using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Core.Modules;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Qwen2VL;

/// <summary>One ViT block: <c>h = x + attn(norm1(x)); out = h + fc2(act(fc1(norm2(h))))</c> (LayerNorm eps 1e-6).</summary>
sealed class Qwen2VLVisionBlock : nn.Module
{
    /// <summary>The reference's LayerNorm epsilon (fixed in its code, not in the config).</summary>
    public const double LayerNormEps = 1e-6;

#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly LayerNorm norm1, norm2;
    readonly Qwen2VLVisionAttention attn;
    readonly Qwen2VLVisionMlp mlp;
#pragma warning restore IDE1006

    public Qwen2VLVisionBlock(Qwen2VLVisionConfig c, ModelBuildContext build) : base(nameof(Qwen2VLVisionBlock))
    {
        norm1 = nn.LayerNorm(c.EmbedDim, LayerNormEps, device: build.Device, dtype: build.DType);
        norm2 = nn.LayerNorm(c.EmbedDim, LayerNormEps, device: build.Device, dtype: build.DType);
        attn = new Qwen2VLVisionAttention(c, build);
        mlp = new Qwen2VLVisionMlp(c, build);
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Tensor cos, Tensor sin, int groups)
    {
        using var scope = NewDisposeScope();
        var h = x.Plus(attn.forward(norm1.forward(x), cos, sin, groups));
        return h.Plus(mlp.forward(norm2.forward(h))).MoveToOuterDisposeScope();
    }
}

/// <summary>The block's feed-forward: <c>fc2(act(fc1(x)))</c>, <c>act</c> = <c>hidden_act</c> (quick_gelu).</summary>
sealed class Qwen2VLVisionMlp : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly nn.Module<Tensor, Tensor> fc1, fc2;
#pragma warning restore IDE1006
    readonly Func<Tensor, Tensor> activation;

    public Qwen2VLVisionMlp(Qwen2VLVisionConfig c, ModelBuildContext build) : base(nameof(Qwen2VLVisionMlp))
    {
        activation = Activations.Get(c.HiddenAct);
        fc1 = build.Linear.Create(new LinearSpec("fc1", c.EmbedDim, c.MlpDim, Bias: true), build.DType, build.Device);
        fc2 = build.Linear.Create(new LinearSpec("fc2", c.MlpDim, c.EmbedDim, Bias: true), build.DType, build.Device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return fc2.forward(activation(fc1.forward(x))).MoveToOuterDisposeScope();
    }
}
