using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Modules;
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
    readonly int heads;

    public ClipAttention(ClipVisionConfig c, ScalarType dtype, Device? device) : base(nameof(ClipAttention))
    {
        heads = c.NumAttentionHeads;
        q_proj = WeightInit.Linear(c.HiddenSize, c.HiddenSize, hasBias: true, device, dtype);
        k_proj = WeightInit.Linear(c.HiddenSize, c.HiddenSize, hasBias: true, device, dtype);
        v_proj = WeightInit.Linear(c.HiddenSize, c.HiddenSize, hasBias: true, device, dtype);
        out_proj = WeightInit.Linear(c.HiddenSize, c.HiddenSize, hasBias: true, device, dtype);
        RegisterComponents();
    }

    /// <param name="x">[B, T, hidden].</param>
    public override Tensor forward(Tensor x) => EncoderSelfAttention.Forward(x, q_proj, k_proj, v_proj, out_proj, heads);
}
