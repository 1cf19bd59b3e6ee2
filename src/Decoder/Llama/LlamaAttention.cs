using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Tensors;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Llama;

/// <summary>
/// Grouped-query self-attention with rotary embeddings: <c>softmax(q kᵀ / sqrt(d) + mask) v</c>, computed by the attention
/// kernel the model was loaded with; keys and values shared by <c>num_attention_heads / num_key_value_heads</c> query heads.
/// </summary>
sealed class LlamaAttention : nn.Module
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly nn.Module<Tensor, Tensor> q_proj, k_proj, v_proj, o_proj;
#pragma warning restore IDE1006
    readonly LlamaConfig config;
    readonly int layerIndex;
    readonly IAttentionKernel kernel;

    public LlamaAttention(LlamaConfig c, int layerIndex, ModelBuildContext build) : base(nameof(LlamaAttention))
    {
        config = c;
        this.layerIndex = layerIndex;
        kernel = build.Attention;
        q_proj = Linear(build, "q_proj", c.HiddenSize, c.NumAttentionHeads * c.HeadDim, c.AttentionBias);
        k_proj = Linear(build, "k_proj", c.HiddenSize, c.NumKeyValueHeads * c.HeadDim, c.AttentionBias);
        v_proj = Linear(build, "v_proj", c.HiddenSize, c.NumKeyValueHeads * c.HeadDim, c.AttentionBias);
        o_proj = Linear(build, "o_proj", c.NumAttentionHeads * c.HeadDim, c.HiddenSize, c.AttentionBias);
        RegisterComponents();
    }

    static nn.Module<Tensor, Tensor> Linear(ModelBuildContext build, string name, long inputs, long outputs, bool bias) =>
        build.Linear.Create(new LinearSpec(name, inputs, outputs, bias), build.DType, build.Device);

    /// <param name="x">[B, T, hidden].</param>
    /// <param name="cos">[B, T, head_dim].</param>
    /// <param name="sin">[B, T, head_dim].</param>
    /// <param name="mask">Additive mask [B, 1, T, S] (S = cached + T).</param>
    /// <param name="cache">Cache to append to, or null for a cache-free forward.</param>
    public Tensor forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, IKvCache? cache)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var q = q_proj.forward(x).view(b, t, config.NumAttentionHeads, config.HeadDim).transpose(1, 2);
        var k = k_proj.forward(x).view(b, t, config.NumKeyValueHeads, config.HeadDim).transpose(1, 2);
        var v = v_proj.forward(x).view(b, t, config.NumKeyValueHeads, config.HeadDim).transpose(1, 2);

        var c = cos.unsqueeze(1);
        var s = sin.unsqueeze(1);
        q = (q * c).Plus(RotateHalf(q) * s);
        k = (k * c).Plus(RotateHalf(k) * s);

        if (cache is not null) (k, v) = cache.Append(layerIndex, k, v);
        var output = kernel.Attend(q, k, v, mask, 1 / Math.Sqrt(config.HeadDim))
            .transpose(1, 2).reshape(b, t, config.NumAttentionHeads * config.HeadDim);
        return o_proj.forward(output).MoveToOuterDisposeScope();
    }

    static Tensor RotateHalf(Tensor x)
    {
        long half = x.shape[^1] / 2;
        return cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1);
    }
}
