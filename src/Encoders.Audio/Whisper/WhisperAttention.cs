using LlavaModal.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Audio.Whisper;

/// <summary>
/// Unmasked multi-head self-attention over all positions (padding frames included, as the reference does):
/// <c>softmax((q · head_dim^-0.5) kᵀ) v</c>. <c>k_proj</c> has no bias, as in the checkpoints.
/// </summary>
internal sealed class WhisperAttention : nn.Module
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly Linear q_proj, k_proj, v_proj, out_proj;
#pragma warning restore IDE1006
    readonly int heads, headDim;
    readonly double scaling;

    public WhisperAttention(WhisperEncoderConfig c, ScalarType dtype, Device? device) : base(nameof(WhisperAttention))
    {
        heads = c.EncoderAttentionHeads;
        headDim = c.HeadDim;
        scaling = Math.Pow(headDim, -0.5);
        q_proj = WeightInit.Linear(c.DModel, c.DModel, hasBias: true, device: device, dtype: dtype);
        k_proj = WeightInit.Linear(c.DModel, c.DModel, hasBias: false, device: device, dtype: dtype);
        v_proj = WeightInit.Linear(c.DModel, c.DModel, hasBias: true, device: device, dtype: dtype);
        out_proj = WeightInit.Linear(c.DModel, c.DModel, hasBias: true, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <param name="x">[B, T, d_model].</param>
    public Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        // The reference scales the projected queries (bias included) before the product, not the scores.
        var q = (q_proj.forward(x) * scaling).view(b, t, heads, headDim).transpose(1, 2);
        var k = k_proj.forward(x).view(b, t, heads, headDim).transpose(1, 2);
        var v = v_proj.forward(x).view(b, t, heads, headDim).transpose(1, 2);
        // Softmax in float32 so half-precision weights keep the fp32 reference's accuracy.
        var weights = q.matmul(k.transpose(2, 3)).softmax(-1, ScalarType.Float32).to(q.dtype);
        var output = weights.matmul(v).transpose(1, 2).reshape(b, t, heads * headDim);
        return out_proj.forward(output).MoveToOuterDisposeScope();
    }
}
