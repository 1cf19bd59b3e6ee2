using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Core.Attention;
using LlavaModal.Core.Modules;
using LlavaModal.Core.Quantization;
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

    internal (nn.Module<Tensor, Tensor> Q, nn.Module<Tensor, Tensor> K, nn.Module<Tensor, Tensor> V, nn.Module<Tensor, Tensor> O) Projections => (q_proj, k_proj, v_proj, o_proj);
    internal (RmsNorm? Q, RmsNorm? K) HeadNorms => (q_norm, k_norm);
    internal int Heads => heads;
    internal int LayerIndex => layerIndex;
    internal IAttentionKernel Kernel => kernel;

    static nn.Module<Tensor, Tensor> Linear(ModelBuildContext build, ILlamaLayers c, string name, long inputs, long outputs) =>
        build.Linear.Create(new LinearSpec(name, inputs, outputs, c.AttentionProjectionBias(name)), build.DType, build.Device);

    /// <param name="x">[B, T, hidden].</param>
    /// <param name="cos">[B, 1, T, head_dim].</param>
    /// <param name="signedSin">[B, 1, T, head_dim], <see cref="RotaryEmbedding.SignedSin"/> of the angles' sine.</param>
    /// <param name="mask">Additive mask [B, 1, T, S] (S = cached + T), or null when every query sees every key (one new position, nothing padded).</param>
    /// <param name="cache">Cache to append to, or null for a cache-free forward.</param>
    /// <param name="causal">True when <paramref name="mask"/> is exactly causal: these positions are the last of the keys (a cache may hold earlier ones), with no padding or window cutting in.</param>
    public Tensor forward(Tensor x, Tensor cos, Tensor signedSin, Tensor? mask, IKvCache? cache, bool causal = false)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        // Decode-sized inputs on packed layers: the three projections in one kernel call.
        var qkv = PackedProjections.Forward([q_proj, k_proj, v_proj], x);
        var q = (qkv?[0] ?? q_proj.forward(x)).view(b, t, heads, headDim);
        var k = (qkv?[1] ?? k_proj.forward(x)).view(b, t, kvHeads, headDim);
        if (q_norm is not null) q = q_norm.forward(q);
        if (k_norm is not null) k = k_norm.forward(k);
        q = RotaryEmbedding.Rotate(q.transpose(1, 2), cos, signedSin);
        k = RotaryEmbedding.Rotate(k.transpose(1, 2), cos, signedSin);
        var v = (qkv?[2] ?? v_proj.forward(x)).view(b, t, kvHeads, headDim).transpose(1, 2);

        if (cache is not null) (k, v) = cache.Append(layerIndex, k, v);
        var output = InferenceAttention.Attend(kernel, q, k, v, mask, 1 / Math.Sqrt(headDim), causal);
        return o_proj.forward(output.transpose(1, 2).reshape(b, t, heads * headDim)).MoveToOuterDisposeScope();
    }
}
