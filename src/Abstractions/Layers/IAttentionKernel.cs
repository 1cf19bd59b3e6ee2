using static TorchSharp.torch;

namespace LlavaModal.Abstractions.Layers;

/// <summary>
/// Computes scaled dot-product attention. Decoders hand it grouped-query tensors as they are: query heads are
/// served by <c>heads / kv_heads</c> consecutive key/value heads, and a kernel never copies the cache to match them.
/// </summary>
public interface IAttentionKernel
{
    /// <summary>The kernel's name, as load options select it (<c>eager</c>, <c>sdpa</c>).</summary>
    string Name { get; }

    /// <summary><c>softmax(q kᵀ · scale + mask) v</c>.</summary>
    /// <param name="query">[B, heads, T, head_dim].</param>
    /// <param name="key">[B, kv_heads, S, head_dim].</param>
    /// <param name="value">[B, kv_heads, S, head_dim].</param>
    /// <param name="mask">Additive mask broadcastable to [B, 1, T, S] (0 where allowed, the dtype's minimum where not), or null.</param>
    /// <param name="scale">Score scale (usually <c>head_dim^-0.5</c>).</param>
    /// <returns>[B, heads, T, head_dim].</returns>
    Tensor Attend(Tensor query, Tensor key, Tensor value, Tensor? mask, double scale);
}
