using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Core.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Llama;

/// <summary>
/// Grouped-query self-attention with rotary embeddings: <c>softmax(q kᵀ / sqrt(d) + mask) v</c>, computed by the attention
/// kernel the model was loaded with; keys and values shared by <c>num_attention_heads / num_key_value_heads</c> query heads.
/// Qwen3 RMS-normalises each query and key head (<c>q_norm</c>, <c>k_norm</c>) before the rotation.
/// </summary>
sealed class LlamaAttention : nn.Module
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly nn.Module<Tensor, Tensor> q_proj, k_proj, v_proj, o_proj;
    readonly RmsNorm? q_norm, k_norm;
#pragma warning restore IDE1006
    readonly int heads, kvHeads, headDim;
    readonly int layerIndex;
    readonly IAttentionKernel kernel;

    public LlamaAttention(ILlamaLayers c, int layerIndex, ModelBuildContext build) : base(nameof(LlamaAttention))
    {
        heads = c.NumAttentionHeads;
        kvHeads = c.NumKeyValueHeads;
        headDim = c.HeadDim;
        this.layerIndex = layerIndex;
        kernel = build.Attention;
        q_proj = Linear(build, c, "q_proj", c.HiddenSize, heads * headDim);
        k_proj = Linear(build, c, "k_proj", c.HiddenSize, kvHeads * headDim);
        v_proj = Linear(build, c, "v_proj", c.HiddenSize, kvHeads * headDim);
        o_proj = Linear(build, c, "o_proj", heads * headDim, c.HiddenSize);
        if (c.NormalizesQueriesAndKeys)
        {
            q_norm = new RmsNorm(headDim, c.RmsNormEps, build.DType, build.Device);
            k_norm = new RmsNorm(headDim, c.RmsNormEps, build.DType, build.Device);
        }
        RegisterComponents();
    }

    static nn.Module<Tensor, Tensor> Linear(ModelBuildContext build, ILlamaLayers c, string name, long inputs, long outputs) =>
        build.Linear.Create(new LinearSpec(name, inputs, outputs, c.AttentionProjectionBias(name)), build.DType, build.Device);

    /// <param name="x">[B, T, hidden].</param>
    /// <param name="cos">[B, T, head_dim].</param>
    /// <param name="sin">[B, T, head_dim].</param>
    /// <param name="mask">Additive mask [B, 1, T, S] (S = cached + T).</param>
    /// <param name="cache">Cache to append to, or null for a cache-free forward.</param>
    public Tensor forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, IKvCache? cache)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var q = q_proj.forward(x).view(b, t, heads, headDim);
        var k = k_proj.forward(x).view(b, t, kvHeads, headDim);
        if (q_norm is not null) q = q_norm.forward(q);
        if (k_norm is not null) k = k_norm.forward(k);
        q = q.transpose(1, 2);
        k = k.transpose(1, 2);
        var v = v_proj.forward(x).view(b, t, kvHeads, headDim).transpose(1, 2);

        var c = cos.unsqueeze(1);
        var s = sin.unsqueeze(1);
        q = (q * c).Plus(RotateHalf(q) * s);
        k = (k * c).Plus(RotateHalf(k) * s);

        if (cache is not null) (k, v) = cache.Append(layerIndex, k, v);
        var output = kernel.Attend(q, k, v, mask, 1 / Math.Sqrt(headDim))
            .transpose(1, 2).reshape(b, t, heads * headDim);
        return o_proj.forward(output).MoveToOuterDisposeScope();
    }

    static Tensor RotateHalf(Tensor x)
    {
        long half = x.shape[^1] / 2;
        return cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1);
    }
}
