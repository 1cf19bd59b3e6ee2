using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Tensors;
using static TorchSharp.torch;

namespace LlavaModal.Core.Modules;

/// <summary>
/// Rows of preallocated keys and values, [rows, kv_heads, capacity, head_dim] per layer, written in place: a decode step
/// copies only each row's new position instead of re-concatenating the history, and works on views of the first rows
/// (active sequences are kept contiguous by <see cref="MoveRow"/>), never on copies of the cache. Grows by doubling.
/// Its dtype may be narrower than the model's (a 16-bit cache under an f32 model): new keys and values are rounded as
/// they are written, and the views handed out are in the cache's dtype.
/// </summary>
public sealed class KvCache : IBatchKvCache
{
    readonly IDecoderConfig config;
    readonly ScalarType dtype;
    readonly Device device;
    readonly Tensor?[] keys;
    readonly Tensor?[] values;
    // The layers' first elements, for decode steps that write in place (IDirectKvCache): set with each allocation.
    readonly nint[] keyAddresses;
    readonly nint[] valueAddresses;

    /// <summary>Allocates <paramref name="rows"/> rows of <paramref name="capacity"/> positions of a decoder shaped as <paramref name="config"/> says.</summary>
    public KvCache(IDecoderConfig config, int rows, long capacity, ScalarType dtype, Device device)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1L);
        this.config = config;
        this.dtype = dtype;
        this.device = device;
        keys = new Tensor?[config.NumHiddenLayers];
        values = new Tensor?[config.NumHiddenLayers];
        keyAddresses = new nint[config.NumHiddenLayers];
        valueAddresses = new nint[config.NumHiddenLayers];
        Allocate(rows, capacity);
    }

    /// <inheritdoc />
    public int Rows { get; private set; }

    /// <inheritdoc />
    public long Capacity { get; private set; }

    // Zeros, not empty: masked-out keys get weight 0, and 0 × NaN from uninitialised memory would still be NaN.
    void Allocate(int rows, long capacity)
    {
        using var scope = NewDisposeScope();
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i] = Grown(keys[i], rows, capacity);
            values[i] = Grown(values[i], rows, capacity);
            if (device.type == TorchSharp.DeviceType.CPU)
                unsafe
                {
                    keyAddresses[i] = (nint)KvSlots.Address(keys[i]!);
                    valueAddresses[i] = (nint)KvSlots.Address(values[i]!);
                }
        }
        Rows = rows;
        Capacity = capacity;
    }

    Tensor Grown(Tensor? old, int rows, long capacity)
    {
        var grown = zeros([rows, config.NumKeyValueHeads, capacity, config.HeadDim], dtype, device).DetachFromDisposeScope();
        if (old is not null)
        {
            grown.narrow(0, 0, Rows).narrow(2, 0, Capacity).copy_(old);
            old.Dispose();
        }
        return grown;
    }

    /// <inheritdoc />
    public void EnsureCapacity(int rows, long positions)
    {
        if (rows <= Rows && positions <= Capacity) return;
        int newRows = Rows;
        while (newRows < rows) newRows *= 2;
        long newCapacity = Capacity;
        while (newCapacity < positions) newCapacity *= 2;
        Allocate(newRows, newCapacity);
    }

    /// <inheritdoc />
    public IKvCache Prefill(int row, long length = 0)
    {
        CheckRows(row, 1);
        if (length < 0 || length > Capacity) throw new ArgumentOutOfRangeException(nameof(length), length, $"must be within the capacity of {Capacity}.");
        return new RowView(this, row, length);
    }

    /// <inheritdoc />
    public IKvCache Step(int first, IReadOnlyList<long> lengths)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        CheckRows(first, lengths.Count);
        return new StepView(this, first, lengths);
    }

    /// <inheritdoc />
    public void MoveRow(int from, int to, long length)
    {
        CheckRows(from, 1);
        CheckRows(to, 1);
        if (from == to || length == 0) return;
        using var scope = NewDisposeScope();
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i]!.select(0, to).narrow(1, 0, length).copy_(keys[i]!.select(0, from).narrow(1, 0, length));
            values[i]!.select(0, to).narrow(1, 0, length).copy_(values[i]!.select(0, from).narrow(1, 0, length));
        }
    }

    /// <inheritdoc />
    public CachedPrefix Save(int row, long length)
    {
        CheckRows(row, 1);
        using var scope = NewDisposeScope();
        var layers = new List<(Tensor, Tensor)>(keys.Length);
        for (int i = 0; i < keys.Length; i++)
            layers.Add((keys[i]!.select(0, row).narrow(1, 0, length).clone().DetachFromDisposeScope(), values[i]!.select(0, row).narrow(1, 0, length).clone().DetachFromDisposeScope()));
        return new CachedPrefix(layers, length);
    }

    /// <inheritdoc />
    public void Load(int row, CachedPrefix prefix, long length)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        CheckRows(row, 1);
        if (prefix.Layers.Count != keys.Length) throw new ArgumentException($"The prefix has {prefix.Layers.Count} layers, the cache {keys.Length}.", nameof(prefix));
        if (length < 0 || length > prefix.Length) throw new ArgumentOutOfRangeException(nameof(length), length, $"must be within the prefix's {prefix.Length} positions.");
        EnsureCapacity(Rows, length);
        using var scope = NewDisposeScope();
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i]!.select(0, row).narrow(1, 0, length).copy_(prefix.Layers[i].Keys.narrow(1, 0, length));
            values[i]!.select(0, row).narrow(1, 0, length).copy_(prefix.Layers[i].Values.narrow(1, 0, length));
        }
    }

    /// <summary>The slots of <paramref name="layer"/> from row <paramref name="first"/> on (CPU caches only).</summary>
    unsafe KvSlots Slots(int layer, int first)
    {
        // The addresses die with the tensors: a disposed cache must fail as its tensors would, not be written through.
        ObjectDisposedException.ThrowIf(disposed, this);
        if (device.type != TorchSharp.DeviceType.CPU) throw new InvalidOperationException("Only a CPU cache is addressed in place.");
        long headStride = Capacity * config.HeadDim, rowStride = config.NumKeyValueHeads * headStride;
        long offset = first * rowStride * (dtype == ScalarType.Float32 ? 4 : 2);
        return new KvSlots((byte*)keyAddresses[layer] + offset, (byte*)valueAddresses[layer] + offset, rowStride, headStride, config.HeadDim, dtype);
    }

    void CheckRows(int first, int count)
    {
        if (first < 0 || count < 0 || first + count > Rows)
            throw new ArgumentOutOfRangeException(nameof(first), first, $"rows {first}..{first + count - 1} are outside the cache's {Rows} rows.");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        disposed = true;
        foreach (var t in keys) t?.Dispose();
        foreach (var t in values) t?.Dispose();
    }

    bool disposed;

    /// <summary>One row from a given length, written as a batch-1 cache is.</summary>
    sealed class RowView(KvCache cache, int row, long length) : IKvCache, IDirectKvCache
    {
        public int Count => 1;

        public long LengthOf(int index) => Length;

        public KvSlots Slots(int layer) => cache.Slots(layer, row);

        public long Length { get; private set; } = length;

        public long Capacity => cache.Capacity;

        public (Tensor Keys, Tensor Values) Append(int layer, Tensor keys, Tensor values)
        {
            long t = keys.shape[2];
            if (Length + t > cache.Capacity)
                throw new InvalidOperationException($"KV cache is full: {Length} + {t} positions exceed its capacity of {cache.Capacity}.");
            var rowKeys = cache.keys[layer]!.narrow(0, row, 1);
            var rowValues = cache.values[layer]!.narrow(0, row, 1);
            using (var k = rowKeys.narrow(2, Length, t)) k.copy_(keys);
            using (var v = rowValues.narrow(2, Length, t)) v.copy_(values);
            return (rowKeys.narrow(2, 0, Length + t), rowValues.narrow(2, 0, Length + t));
        }

        public void Advance(long count) => Length += count;

        public void Dispose() { }
    }

    /// <summary>A run of rows, one new position each at its own length.</summary>
    sealed class StepView : IKvCache, IDirectKvCache
    {
        readonly KvCache cache;
        readonly int first;
        readonly int count;
        readonly Tensor rows;
        readonly Tensor at;
        readonly long[] lengths;

        public StepView(KvCache cache, int first, IReadOnlyList<long> lengths)
        {
            this.cache = cache;
            this.first = first;
            count = lengths.Count;
            this.lengths = [.. lengths];
            Length = lengths.Max();
            if (Length + 1 > cache.Capacity)
                throw new InvalidOperationException($"KV cache is full: {Length} + 1 positions exceed its capacity of {cache.Capacity}.");
            rows = Scalars.Arange(0, count, cache.device).DetachFromDisposeScope();
            at = tensor(lengths.ToArray(), device: cache.device).DetachFromDisposeScope();
        }

        public long Length { get; private set; }

        public long Capacity => cache.Capacity;

        public int Count => count;

        public long LengthOf(int row) => lengths[row];

        public KvSlots Slots(int layer) => cache.Slots(layer, first);

        public (Tensor Keys, Tensor Values) Append(int layer, Tensor keys, Tensor values)
        {
            if (keys.shape[0] != count || keys.shape[2] != 1)
                throw new InvalidOperationException($"A decode step appends one position for each of its {count} rows; got [{string.Join(", ", keys.shape)}].");
            var runKeys = cache.keys[layer]!.narrow(0, first, count);
            var runValues = cache.values[layer]!.narrow(0, first, count);
            // Row b's new position goes to lengths[b]: [rows, :, at, :] addresses [count, kv_heads, head_dim]. index_put_
            // does not convert, so a 16-bit cache under a wider model gets its dtype first (copy_ converts by itself).
            using var newKeys = keys.squeeze(2).to(cache.dtype);
            using var newValues = values.squeeze(2).to(cache.dtype);
            runKeys.index_put_(newKeys, TensorIndex.Tensor(rows), TensorIndex.Colon, TensorIndex.Tensor(at), TensorIndex.Colon);
            runValues.index_put_(newValues, TensorIndex.Tensor(rows), TensorIndex.Colon, TensorIndex.Tensor(at), TensorIndex.Colon);
            return (runKeys.narrow(2, 0, Length + 1), runValues.narrow(2, 0, Length + 1));
        }

        // Length tracks the longest row; the rows' own lengths are the caller's to advance.
        public void Advance(long count) => Length += count;

        public void Dispose()
        {
            rows.Dispose();
            at.Dispose();
        }
    }
}
