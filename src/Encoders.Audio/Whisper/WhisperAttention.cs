using LlavaModal.Abstractions.Layers;
using LlavaModal.Core.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Audio.Whisper;

/// <summary>
/// Unmasked multi-head self-attention over all positions (padding frames included, as the reference does):
/// <c>softmax((q · head_dim^-0.5) kᵀ) v</c>. <c>k_proj</c> has no bias, as in the checkpoints.
/// </summary>
sealed class WhisperAttention : nn.Module
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly nn.Module<Tensor, Tensor> q_proj, k_proj, v_proj, out_proj;
#pragma warning restore IDE1006
    readonly int heads;
    readonly IAttentionKernel kernel;

    public WhisperAttention(WhisperEncoderConfig c, ModelBuildContext build) : base(nameof(WhisperAttention))
    {
        heads = c.EncoderAttentionHeads;
        kernel = build.Attention;
        q_proj = build.Linear.Create(new LinearSpec("q_proj", c.DModel, c.DModel, Bias: true), build.DType, build.Device);
        k_proj = build.Linear.Create(new LinearSpec("k_proj", c.DModel, c.DModel, Bias: false), build.DType, build.Device);
        v_proj = build.Linear.Create(new LinearSpec("v_proj", c.DModel, c.DModel, Bias: true), build.DType, build.Device);
        out_proj = build.Linear.Create(new LinearSpec("out_proj", c.DModel, c.DModel, Bias: true), build.DType, build.Device);
        RegisterComponents();
    }

    /// <param name="x">[B, T, d_model].</param>
    public Tensor forward(Tensor x) => EncoderSelfAttention.Forward(x, q_proj, k_proj, v_proj, out_proj, heads, kernel);
}
