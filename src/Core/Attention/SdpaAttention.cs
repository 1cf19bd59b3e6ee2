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
        q = Scaled(q, scale);
        Tensor? m = null;
        if (mask is not null)
            m = mask.unsqueeze(2).expand(mask.shape[0], 1, groups, t, s).reshape(mask.shape[0], 1, groups * t, s).to(query.dtype);
        var output = nn.functional.scaled_dot_product_attention(q, key, value, m).view(b, heads, t, d);
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Causal attention of T positions over the same T keys, with no mask tensor: libtorch's <c>is_causal</c> path skips
    /// the blocks above the diagonal. Its diagonal is aligned top-left, so this is only right with nothing cached before
    /// the queries. Grouped key/value heads are repeated to the query heads (folding them would break the alignment).
    /// </summary>
    /// <param name="query">[B, heads, T, head_dim].</param>
    /// <param name="key">[B, kv_heads, T, head_dim].</param>
    /// <param name="value">[B, kv_heads, T, head_dim].</param>
    /// <param name="scale">Score scale.</param>
    public static Tensor AttendCausal(Tensor query, Tensor key, Tensor value, double scale)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (key.shape[2] != query.shape[2]) throw new ArgumentException($"Causal attention without a mask needs as many keys as queries; got {key.shape[2]} keys for {query.shape[2]} queries.", nameof(key));
        using var scope = NewDisposeScope();
        long heads = query.shape[1], groups = heads / key.shape[1];
        if (groups > 1)
        {
            key = key.repeat_interleave(groups, 1);
            value = value.repeat_interleave(groups, 1);
        }
        return nn.functional.scaled_dot_product_attention(Scaled(query, scale), key, value, null, 0, true).MoveToOuterDisposeScope();
    }

    /// <summary>TorchSharp's binding scales by <c>d^-0.5</c> and takes no scale argument: any other scale is folded into the queries.</summary>
    static Tensor Scaled(Tensor query, double scale)
    {
        double defaultScale = 1 / Math.Sqrt(query.shape[^1]);
        return Math.Abs(scale - defaultScale) > 1e-12 * defaultScale ? query.MulScalar(scale / defaultScale) : query;
    }
}
