using static TorchSharp.torch;

namespace LlavaModal.Abstractions.Decoding;

/// <summary>
/// A key/value cache the decoder writes each layer's new keys and values into and reads everything cached from.
/// A view of an <see cref="IBatchKvCache"/>: one row being prefilled, or a run of rows taking a decode step.
/// </summary>
public interface IKvCache : IDisposable
{
    /// <summary>Positions filled so far (the same for every layer).</summary>
    long Length { get; }

    /// <summary>Maximum positions.</summary>
    long Capacity { get; }

    /// <summary>Stores keys/values [B, kv_heads, T, head_dim] of <paramref name="layer"/> after the cached ones and returns views of all cached so far.</summary>
    (Tensor Keys, Tensor Values) Append(int layer, Tensor keys, Tensor values);

    /// <summary>Marks <paramref name="count"/> new positions as filled, once every layer has appended them.</summary>
    void Advance(long count);
}
