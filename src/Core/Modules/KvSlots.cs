using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LlavaModal.Core.Kernels;
using static TorchSharp.torch;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace LlavaModal.Core.Modules;

/// <summary>
/// A cache view whose rows a decode step run in C# reads and writes in place: the rows of the view, the positions each
/// holds before the step, and where the rows' keys and values of a layer lie.
/// </summary>
interface IDirectKvCache
{
    /// <summary>Rows in the view (the batch of the step).</summary>
    int Count { get; }

    /// <summary>Positions row <paramref name="row"/> of the view holds before this step (its new one goes there).</summary>
    long LengthOf(int row);

    /// <summary>The view's keys and values of <paramref name="layer"/>.</summary>
    KvSlots Slots(int layer);
}

/// <summary>
/// A run of rows' keys and values of one layer in a <see cref="KvCache"/>: [rows, kv_heads, capacity, head_dim] each,
/// contiguous, in the cache's dtype (f32, f16 or bf16).
/// </summary>
readonly unsafe struct KvSlots(byte* keys, byte* values, long rowStride, long headStride, int headDim, ScalarType dtype)
{
    /// <summary>The first key (row 0, head 0, position 0).</summary>
    public byte* Keys { get; } = keys;

    /// <summary>The first value (row 0, head 0, position 0).</summary>
    public byte* Values { get; } = values;

    /// <summary>Elements from one row to the next.</summary>
    public long RowStride { get; } = rowStride;

    /// <summary>Elements from one head's positions to the next head's.</summary>
    public long HeadStride { get; } = headStride;

    /// <summary>Elements from one position to the next (one head_dim row).</summary>
    public int HeadDim { get; } = headDim;

    /// <summary>What the slots hold.</summary>
    public ScalarType DType { get; } = dtype;

    /// <summary>Writes row <paramref name="row"/>'s key and value of head <paramref name="head"/> at <paramref name="position"/>, rounded to the cache's dtype as libtorch's copy rounds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(int row, int head, long position, ReadOnlySpan<float> key, ReadOnlySpan<float> value)
    {
        long at = row * RowStride + head * HeadStride + position * HeadDim;
        Store(Keys, at, key);
        Store(Values, at, value);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void Store(byte* start, long at, ReadOnlySpan<float> row)
    {
        switch (DType)
        {
            case ScalarType.Float32: row.CopyTo(new Span<float>((float*)start + at, HeadDim)); break;
            case ScalarType.Float16: TensorPrimitives.ConvertToHalf(row, new Span<Half>((Half*)start + at, HeadDim)); break;
            default: BlockQuantizer.ToBFloat16(row, new Span<ushort>((ushort*)start + at, HeadDim)); break;
        }
    }

    /// <summary>The address of a tensor's first element (a 1-element view reads it without a span over all of it, which may pass 2 GiB).</summary>
    internal static byte* Address(Tensor t)
    {
        using var first = t.as_strided([1], [1], t.storage_offset());
        return (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(first.bytes));
    }
}
