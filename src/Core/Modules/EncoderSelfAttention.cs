using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Core.Attention;
using static TorchSharp.torch;

namespace LlavaModal.Core.Modules;

/// <summary>
/// The unmasked multi-head self-attention that encoders (CLIP, Whisper) share: queries scaled by <c>head_dim^-0.5</c>
/// after their projection (bias included), as the references do, then the attention kernel (eager by default: softmax
/// in float32 so half-precision weights keep fp32 accuracy; at inference libtorch's fused kernel, see <see cref="InferenceAttention"/>).
/// </summary>
public static class EncoderSelfAttention
{
    static readonly IAttentionKernel Eager = new EagerAttention();

    /// <param name="x">[B, T, width].</param>
    /// <param name="qProj">Query projection.</param>
    /// <param name="kProj">Key projection.</param>
    /// <param name="vProj">Value projection.</param>
    /// <param name="outProj">Output projection.</param>
    /// <param name="heads">Number of heads.</param>
    /// <param name="kernel">Attention kernel (default eager).</param>
    /// <returns>[B, T, width].</returns>
    public static Tensor Forward(Tensor x, nn.Module<Tensor, Tensor> qProj, nn.Module<Tensor, Tensor> kProj, nn.Module<Tensor, Tensor> vProj, nn.Module<Tensor, Tensor> outProj, int heads, IAttentionKernel? kernel = null)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var q = qProj.forward(x);
        long headDim = q.shape[^1] / heads;
        q = q.MulScalar(Math.Pow(headDim, -0.5)).view(b, t, heads, headDim).transpose(1, 2);
        var k = kProj.forward(x).view(b, t, heads, headDim).transpose(1, 2);
        var v = vProj.forward(x).view(b, t, heads, headDim).transpose(1, 2);
        var output = InferenceAttention.For(kernel ?? Eager, q).Attend(q, k, v, mask: null, scale: 1).transpose(1, 2).reshape(b, t, heads * headDim);
        return outProj.forward(output).MoveToOuterDisposeScope();
    }
}
