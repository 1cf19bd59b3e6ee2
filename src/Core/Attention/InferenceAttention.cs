using LlavaModal.Abstractions.Layers;
using LlavaModal.Core.Kernels;
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

    /// <summary>
    /// A decoder's attention with <paramref name="chosen"/> asked for, on the fastest kernel that gives its values: one
    /// new position on the CPU with nothing masked takes the C# <see cref="DecodeAttention"/> (it reads the cache where
    /// it is, widening a 16-bit cache); otherwise a 16-bit cache under a wider model is widened for libtorch, and a
    /// plainly causal prompt skips its mask (2-5x at 2048 positions, <c>prefill-attention</c>), on the C#
    /// <see cref="PromptAttention"/> where it applies (also for a prompt's later pieces, whose keys run ahead of the
    /// queries), else on libtorch's <c>is_causal</c> path when nothing is cached before the queries.
    /// </summary>
    // causal: the mask is exactly causal, the queries being the last positions of the keys (no padding or window cuts in).
    public static Tensor Attend(IAttentionKernel chosen, Tensor query, Tensor key, Tensor value, Tensor? mask, double scale, bool causal)
    {
        bool builtIn = chosen is EagerAttention or SdpaAttention;
        if (builtIn && query.shape[2] == 1 && DecodeAttention.TryAttend(query, key, value, mask, scale, KernelPool.Shared) is { } decoded) return decoded;
        if (key.dtype != query.dtype)
        {
            using var scope = NewDisposeScope();
            var output = Attend(chosen, query, key.to(query.dtype), value.to(query.dtype), mask, scale, causal);
            return output.MoveToOuterDisposeScope();
        }
        var kernel = For(chosen, query);
        if (!causal || kernel is not SdpaAttention) return kernel.Attend(query, key, value, mask, scale);
        return PromptAttention.TryAttendCausal(query, key, value, scale, KernelPool.Shared)
            ?? (key.shape[2] == query.shape[2] ? SdpaAttention.AttendCausal(query, key, value, scale) : kernel.Attend(query, key, value, mask, scale));
    }
}
