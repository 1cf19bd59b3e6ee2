using static TorchSharp.torch;

namespace LlavaModal.Abstractions.Decoding;

/// <summary>Keys and values [kv_heads, length, head_dim] of every layer for the first <see cref="Length"/> positions of a sequence; owns its tensors.</summary>
public sealed class CachedPrefix : IDisposable
{
    /// <summary>Takes ownership of one (keys, values) pair per layer.</summary>
    public CachedPrefix(IReadOnlyList<(Tensor Keys, Tensor Values)> layers, long length)
    {
        ArgumentNullException.ThrowIfNull(layers);
        Layers = layers;
        Length = length;
        Bytes = layers.Sum(l => l.Keys.NumberOfElements * l.Keys.ElementSize + l.Values.NumberOfElements * l.Values.ElementSize);
    }

    /// <summary>Per layer.</summary>
    public IReadOnlyList<(Tensor Keys, Tensor Values)> Layers { get; }

    /// <summary>Positions held.</summary>
    public long Length { get; }

    /// <summary>Memory held.</summary>
    public long Bytes { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var (k, v) in Layers)
        {
            k.Dispose();
            v.Dispose();
        }
    }
}
