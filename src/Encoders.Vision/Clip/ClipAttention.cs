using LlavaModal.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Clip;

/// <summary>
/// Unmasked multi-head self-attention with biased projections: <c>softmax((q·d^-0.5) kᵀ) v</c>, q scaled before
/// the product and softmax in float32, as the reference's eager path.
/// </summary>
internal sealed class ClipAttention : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly nn.Module<Tensor, Tensor> q_proj, k_proj, v_proj, out_proj;
#pragma warning restore IDE1006
    readonly int heads, headDim;
    readonly double scale;

    public ClipAttention(ClipVisionConfig c, ScalarType dtype, Device? device) : base(nameof(ClipAttention))
    {
        heads = c.NumAttentionHeads;
        headDim = c.HeadDim;
        scale = Math.Pow(headDim, -0.5);
        q_proj = WeightInit.Linear(c.HiddenSize, c.HiddenSize, hasBias: true, device, dtype);
        k_proj = WeightInit.Linear(c.HiddenSize, c.HiddenSize, hasBias: true, device, dtype);
        v_proj = WeightInit.Linear(c.HiddenSize, c.HiddenSize, hasBias: true, device, dtype);
        out_proj = WeightInit.Linear(c.HiddenSize, c.HiddenSize, hasBias: true, device, dtype);
        RegisterComponents();
    }

    /// <param name="x">[B, T, hidden].</param>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var q = (q_proj.forward(x) * scale).view(b, t, heads, headDim).transpose(1, 2);
        var k = k_proj.forward(x).view(b, t, heads, headDim).transpose(1, 2);
        var v = v_proj.forward(x).view(b, t, heads, headDim).transpose(1, 2);
        var weights = q.matmul(k.transpose(2, 3)).softmax(-1, ScalarType.Float32).to(q.dtype);
        var output = weights.matmul(v).transpose(1, 2).reshape(b, t, heads * headDim);
        return out_proj.forward(output).MoveToOuterDisposeScope();
    }
}
