using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Core.Attention;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Qwen2VL;

/// <summary>
/// The ViT's self-attention: fused biased <c>qkv</c>, queries and keys rotated by the patches' 2-D angles (in float32),
/// <c>softmax(q kᵀ / sqrt(d)) v</c> within each temporal group of patches only (transformers' block-diagonal
/// <c>cu_seqlens</c> mask, here as a batch of groups), then <c>proj</c>.
/// </summary>
sealed class Qwen2VLVisionAttention : nn.Module
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly nn.Module<Tensor, Tensor> qkv, proj;
#pragma warning restore IDE1006
    readonly int heads, headDim;
    readonly IAttentionKernel kernel;

    public Qwen2VLVisionAttention(Qwen2VLVisionConfig c, ModelBuildContext build) : base(nameof(Qwen2VLVisionAttention))
    {
        heads = c.NumHeads;
        headDim = c.HeadDim;
        kernel = build.Attention;
        qkv = build.Linear.Create(new LinearSpec("qkv", c.EmbedDim, 3 * c.EmbedDim, Bias: true), build.DType, build.Device);
        proj = build.Linear.Create(new LinearSpec("proj", c.EmbedDim, c.EmbedDim, Bias: true), build.DType, build.Device);
        RegisterComponents();
    }

    /// <param name="x">[patches, embed_dim], groups one after another.</param>
    /// <param name="cos">cos of the angles, [patches, head_dim] (float32).</param>
    /// <param name="sin">sin of the angles, [patches, head_dim] (float32).</param>
    /// <param name="groups">Temporal groups; each attends within itself.</param>
    public Tensor forward(Tensor x, Tensor cos, Tensor sin, int groups)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0], per = n / groups;
        var parts = qkv.forward(x).view(n, 3, heads, headDim).permute(1, 0, 2, 3); // [3, patches, heads, d]
        var q = Rotate(parts[0], cos, sin);
        var k = Rotate(parts[1], cos, sin);
        var v = parts[2];
        // [patches, heads, d] → [groups, heads, per group, d]
        Tensor Grouped(Tensor t) => t.reshape(groups, per, heads, headDim).transpose(1, 2);
        var output = InferenceAttention.For(kernel, q).Attend(Grouped(q), Grouped(k), Grouped(v), null, 1 / Math.Sqrt(headDim))
            .transpose(1, 2).reshape(n, heads * headDim);
        return proj.forward(output).MoveToOuterDisposeScope();
    }

    /// <summary><c>x·cos + rotate_half(x)·sin</c> in float32, back in x's dtype.</summary>
    static Tensor Rotate(Tensor x, Tensor cos, Tensor sin)
    {
        var f = x.to(ScalarType.Float32);
        long half = f.shape[^1] / 2;
        var rotated = cat([-f.narrow(-1, half, half), f.narrow(-1, 0, half)], -1);
        var c = cos.unsqueeze(1);
        var s = sin.unsqueeze(1);
        return (f * c).Plus(rotated * s).to(x.dtype);
    }
}
