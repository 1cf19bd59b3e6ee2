using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Tensors;
using static TorchSharp.torch;

namespace LlavaModal.Core.Attention;

/// <summary>
/// libtorch's <c>scaled_dot_product_attention</c> (fused kernels where the shapes allow). TorchSharp exposes no
/// <c>enable_gqa</c>, so grouped query heads are folded into the query length of their key/value head, as in
/// <see cref="EagerAttention"/>, instead of repeating the cache.
/// </summary>
public sealed class SdpaAttention : IAttentionKernel
{
    /// <summary>The kernel's name in load options.</summary>
    public const string KernelName = "sdpa";

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
        // TorchSharp's binding scales by d^-0.5 and takes no scale argument: fold any other scale into the queries.
        double defaultScale = 1 / Math.Sqrt(d);
        if (Math.Abs(scale - defaultScale) > 1e-12 * defaultScale) q = q.MulScalar(scale / defaultScale);
        Tensor? m = null;
        if (mask is not null)
            m = mask.unsqueeze(2).expand(mask.shape[0], 1, groups, t, s).reshape(mask.shape[0], 1, groups * t, s).to(query.dtype);
        var output = nn.functional.scaled_dot_product_attention(q, key, value, m).view(b, heads, t, d);
        return output.MoveToOuterDisposeScope();
    }
}
