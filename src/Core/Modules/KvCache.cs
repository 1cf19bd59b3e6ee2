using static TorchSharp.torch;

namespace LlavaModal.Decoder.Llama;

/// <summary>
/// Preallocated key/value cache: [batch, kv_heads, capacity, head_dim] per layer, written in place, so a
/// decode step copies only the new token's keys and values instead of re-concatenating the whole history.
/// </summary>
public sealed class KvCache : IDisposable
{
    readonly Tensor[] keys;
    readonly Tensor[] values;

    /// <summary>Allocates a cache for <paramref name="batch"/> sequences of up to <paramref name="capacity"/> positions.</summary>
    public KvCache(LlamaConfig config, long batch, long capacity, ScalarType dtype, Device device)
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

    /// <summary>Positions filled so far (the same for every layer).</summary>
    public long Length { get; private set; }

    /// <summary>Maximum positions.</summary>
    public long Capacity { get; }

    /// <summary>Writes the new keys/values [B, kv_heads, T, d] of layer <paramref name="layer"/> after the cached ones and returns views of everything cached so far.</summary>
    internal (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        long t = k.shape[2];
        if (Length + t > Capacity)
            throw new InvalidOperationException($"KV cache is full: {Length} + {t} positions exceed its capacity of {Capacity}.");
        using (var kSlot = keys[layer].narrow(2, Length, t)) kSlot.copy_(k);
        using (var vSlot = values[layer].narrow(2, Length, t)) vSlot.copy_(v);
        return (keys[layer].narrow(2, 0, Length + t), values[layer].narrow(2, 0, Length + t));
    }

    /// <summary>Marks <paramref name="count"/> new positions as filled once every layer has appended them.</summary>
    internal void Advance(long count) => Length += count;

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in keys) t.Dispose();
        foreach (var t in values) t.Dispose();
    }
}
