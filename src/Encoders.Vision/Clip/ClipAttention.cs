using LlavaModal.Abstractions.Layers;
using LlavaModal.Core.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Clip;

/// <summary>
/// Unmasked multi-head self-attention with biased projections: <c>softmax(q kᵀ · d^-0.5) v</c>, computed by the attention
/// kernel the tower was built with (the eager one keeps softmax in float32, as the reference).
/// </summary>
sealed class ClipAttention : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly nn.Module<Tensor, Tensor> q_proj, k_proj, v_proj, out_proj;
#pragma warning restore IDE1006
    readonly int heads;
    readonly IAttentionKernel kernel;

    public ClipAttention(ClipVisionConfig c, ModelBuildContext build) : base(nameof(ClipAttention))
    {
        heads = c.NumAttentionHeads;
        kernel = build.Attention;
        q_proj = build.Linear.Create(new LinearSpec("q_proj", c.HiddenSize, c.HiddenSize, Bias: true), build.DType, build.Device);
        k_proj = build.Linear.Create(new LinearSpec("k_proj", c.HiddenSize, c.HiddenSize, Bias: true), build.DType, build.Device);
        v_proj = build.Linear.Create(new LinearSpec("v_proj", c.HiddenSize, c.HiddenSize, Bias: true), build.DType, build.Device);
        out_proj = build.Linear.Create(new LinearSpec("out_proj", c.HiddenSize, c.HiddenSize, Bias: true), build.DType, build.Device);
        RegisterComponents();
    }

    /// <param name="x">[B, T, hidden].</param>
    public override Tensor forward(Tensor x) => EncoderSelfAttention.Forward(x, q_proj, k_proj, v_proj, out_proj, heads, kernel);
}
