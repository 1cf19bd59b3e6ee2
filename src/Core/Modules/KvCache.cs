using LlavaModal.Abstractions.Decoding;
using static TorchSharp.torch;

namespace LlavaModal.Core.Modules;

/// <summary>
/// Preallocated key/value cache: [batch, kv_heads, capacity, head_dim] per layer, written in place, so a
/// decode step copies only the new token's keys and values instead of re-concatenating the whole history.
/// </summary>
public sealed class KvCache : IKvCache
{
    readonly Tensor[] keys;
    readonly Tensor[] values;

    /// <summary>Allocates a cache for <paramref name="batch"/> sequences of up to <paramref name="capacity"/> positions of a decoder shaped as <paramref name="config"/> says.</summary>
    public KvCache(IDecoderConfig config, long batch, long capacity, ScalarType dtype, Device device)
    {
        if (capacity <= 0) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "must be positive.");
        Capacity = capacity;
        keys = new Tensor[config.NumHiddenLayers];
        values = new Tensor[config.NumHiddenLayers];
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i] = zeros([batch, config.NumKeyValueHeads, capacity, config.HeadDim], dtype, device).DetachFromDisposeScope();
            values[i] = zeros([batch, config.NumKeyValueHeads, capacity, config.HeadDim], dtype, device).DetachFromDisposeScope();
        }
    }

    /// <inheritdoc />
    public long Length { get; private set; }

    /// <inheritdoc />
    public long Capacity { get; }

    /// <inheritdoc />
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        long t = k.shape[2];
        if (Length + t > Capacity)
            throw new InvalidOperationException($"KV cache is full: {Length} + {t} positions exceed its capacity of {Capacity}.");
        using (var kSlot = keys[layer].narrow(2, Length, t)) kSlot.copy_(k);
        using (var vSlot = values[layer].narrow(2, Length, t)) vSlot.copy_(v);
        return (keys[layer].narrow(2, 0, Length + t), values[layer].narrow(2, 0, Length + t));
    }

    /// <inheritdoc />
    public void Advance(long count) => Length += count;

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in keys) t.Dispose();
        foreach (var t in values) t.Dispose();
    }
}
