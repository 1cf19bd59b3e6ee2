using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Tensors;
using static TorchSharp.torch;

namespace LlavaModal.Core.Attention;

/// <summary>
/// Attention as the reference's eager path computes it: scores, additive mask, softmax in float32 (so 16-bit weights
/// keep fp32 accuracy), weighted sum. The parity path. Grouped query heads are folded into the query length of their
/// key/value head (<c>[B, kv_heads, groups × T, d]</c>), so the cache is never copied to match them.
/// </summary>
public sealed class EagerAttention : IAttentionKernel
{
    /// <summary>The kernel's name in load options.</summary>
    public const string KernelName = "eager";

    /// <inheritdoc />
    public string Name => KernelName;

    /// <inheritdoc />
    public Tensor Attend(Tensor query, Tensor key, Tensor value, Tensor? mask, double scale)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        using var scope = NewDisposeScope();
        long b = query.shape[0], heads = query.shape[1], t = query.shape[2], d = query.shape[3];
        long kvHeads = key.shape[1], s = key.shape[2], groups = heads / kvHeads;
        var q = query.reshape(b, kvHeads, groups * t, d);
        var scores = q.matmul(key.transpose(2, 3));                                   // [B, kv, G·T, S]
        if (scale != 1) scores = scores.MulScalar(scale);
        if (mask is not null)
            scores = scores.view(b, kvHeads, groups, t, s).Plus(mask.unsqueeze(2)).view(b, kvHeads, groups * t, s);
        var weights = scores.softmax(-1, ScalarType.Float32).to(query.dtype);
        var output = weights.matmul(value).view(b, heads, t, d);
        return output.MoveToOuterDisposeScope();
    }
}
