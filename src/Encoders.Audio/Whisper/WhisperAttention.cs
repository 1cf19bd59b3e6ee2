using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Modules;
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
    readonly int heads;

    public WhisperAttention(WhisperEncoderConfig c, ScalarType dtype, Device? device) : base(nameof(WhisperAttention))
    {
        heads = c.EncoderAttentionHeads;
        q_proj = WeightInit.Linear(c.DModel, c.DModel, hasBias: true, device: device, dtype: dtype);
        k_proj = WeightInit.Linear(c.DModel, c.DModel, hasBias: false, device: device, dtype: dtype);
        v_proj = WeightInit.Linear(c.DModel, c.DModel, hasBias: true, device: device, dtype: dtype);
        out_proj = WeightInit.Linear(c.DModel, c.DModel, hasBias: true, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <param name="x">[B, T, d_model].</param>
    public Tensor forward(Tensor x) => EncoderSelfAttention.Forward(x, q_proj, k_proj, v_proj, out_proj, heads);
}
