using LlavaModal.Core.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Llama;

/// <summary>
/// Grouped-query self-attention with rotary embeddings: <c>softmax(q kᵀ / sqrt(d) + mask) v</c>, softmax in
/// float32 as the reference's eager path does; keys and values shared by <c>num_attention_heads / num_key_value_heads</c> query heads.
/// </summary>
internal sealed class LlamaAttention : nn.Module
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly nn.Module<Tensor, Tensor> q_proj, k_proj, v_proj, o_proj;
#pragma warning restore IDE1006
    readonly LlamaConfig config;
    readonly int layerIndex;

    public LlamaAttention(LlamaConfig c, int layerIndex, ScalarType dtype, Device? device) : base(nameof(LlamaAttention))
    {
        config = c;
        this.layerIndex = layerIndex;
        q_proj = WeightInit.Linear(c.HiddenSize, c.NumAttentionHeads * c.HeadDim, c.AttentionBias, device, dtype);
        k_proj = WeightInit.Linear(c.HiddenSize, c.NumKeyValueHeads * c.HeadDim, c.AttentionBias, device, dtype);
        v_proj = WeightInit.Linear(c.HiddenSize, c.NumKeyValueHeads * c.HeadDim, c.AttentionBias, device, dtype);
        o_proj = WeightInit.Linear(c.NumAttentionHeads * c.HeadDim, c.HiddenSize, c.AttentionBias, device, dtype);
        RegisterComponents();
    }

    /// <param name="x">[B, T, hidden].</param>
    /// <param name="cos">[B, T, head_dim].</param>
    /// <param name="sin">[B, T, head_dim].</param>
    /// <param name="mask">Additive mask [B, 1, T, S] (S = cached + T).</param>
    /// <param name="cache">Cache to append to, or null for a cache-free forward.</param>
    public Tensor forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var q = q_proj.forward(x).view(b, t, config.NumAttentionHeads, config.HeadDim).transpose(1, 2);
        var k = k_proj.forward(x).view(b, t, config.NumKeyValueHeads, config.HeadDim).transpose(1, 2);
        var v = v_proj.forward(x).view(b, t, config.NumKeyValueHeads, config.HeadDim).transpose(1, 2);

        var c = cos.unsqueeze(1);
        var s = sin.unsqueeze(1);
        q = q * c + RotateHalf(q) * s;
        k = k * c + RotateHalf(k) * s;

        if (cache is not null) (k, v) = cache.Append(layerIndex, k, v);
        if (config.KeyValueGroups > 1)
        {
            k = k.repeat_interleave(config.KeyValueGroups, dim: 1);
            v = v.repeat_interleave(config.KeyValueGroups, dim: 1);
        }

        var scores = q.matmul(k.transpose(2, 3)) / Math.Sqrt(config.HeadDim) + mask;
        var weights = scores.softmax(-1, ScalarType.Float32).to(q.dtype);
        var output = weights.matmul(v).transpose(1, 2).reshape(b, t, config.NumAttentionHeads * config.HeadDim);
        return o_proj.forward(output).MoveToOuterDisposeScope();
    }

    static Tensor RotateHalf(Tensor x)
    {
        long half = x.shape[^1] / 2;
        return cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1);
    }
}
