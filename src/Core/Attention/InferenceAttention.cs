using LlavaModal.Abstractions.Layers;
using static TorchSharp.torch;

namespace LlavaModal.Core.Attention;

/// <summary>
/// The kernel an attention call runs on. Inference takes libtorch's fused kernel where the built-in eager one was
/// chosen: it gives the reference's values within rounding and was the fastest on every CPU shape measured (decode
/// steps: the <c>attention</c> benchmark; prompts: <c>prefill-attention</c>, 18x at 512 positions, where eager writes
/// [heads, T, T] scores three times). Training keeps eager (the reference's arithmetic, gradients included), and a
/// kernel of the user's own is always called.
/// </summary>
static class InferenceAttention
{
    static readonly SdpaAttention Fused = new();

    /// <summary>The kernel to call for <paramref name="query"/> when <paramref name="chosen"/> was asked for.</summary>
    public static IAttentionKernel For(IAttentionKernel chosen, Tensor query) =>
        chosen is EagerAttention && !(query.requires_grad && is_grad_enabled()) ? Fused : chosen;

    /// <summary>True when a plainly causal call may skip its mask (<see cref="SdpaAttention.AttendCausal"/>): a built-in kernel, at inference.</summary>
    public static bool MaySkipCausalMask(IAttentionKernel chosen, Tensor query) => For(chosen, query) is SdpaAttention;
}
