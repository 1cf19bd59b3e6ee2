using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using LlavaModal.Core.Kernels;
using static TorchSharp.torch;

namespace LlavaModal.Core.Attention;

/// <summary>
/// Attention of one new position per row over the KV cache (a decode step), in C#: for each key/value head, the scores
/// of its query heads against every cached key (dot products), softmax in f32, then the weighted sum of the values,
/// reading the cache where it lies (any row and position strides) and each key and value once for all the query heads
/// that share it. Numerically the eager path's arithmetic (scale, additive mask, f32 softmax) in another summation order.
/// </summary>
/// <remarks>
/// Written by hand because libtorch's kernels, eager or fused, cost a dozen tensor operations and their allocations per
/// layer for what is a few dot products per cached position; the dot products, exponentials and sums are
/// <see cref="TensorPrimitives"/>' (vectorised by .NET for the CPU it runs on).
/// </remarks>
public static unsafe class DecodeAttention
{
    /// <summary>
    /// True when <see cref="Attend"/> takes these tensors: on the CPU, f32 queries, keys and values, one query position,
    /// contiguous head vectors, query heads a multiple of key/value heads, a mask (if any) of one query row, no gradient.
    /// </summary>
    public static bool Supports(Tensor query, Tensor key, Tensor value, Tensor? mask)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        return query.device_type == TorchSharp.DeviceType.CPU && key.device_type == TorchSharp.DeviceType.CPU
            && query.dtype == ScalarType.Float32 && key.dtype == ScalarType.Float32 && value.dtype == ScalarType.Float32
            && query.dim() == 4 && key.dim() == 4 && value.dim() == 4 && query.shape[2] == 1
            && key.shape[1] > 0 && query.shape[1] % key.shape[1] == 0 && key.shape[3] == query.shape[3]
            && key.stride(3) == 1 && value.stride(3) == 1 && value.shape[2] == key.shape[2]
            && !query.requires_grad && !key.requires_grad && !value.requires_grad
            && (mask is null || (mask.dim() == 4 && mask.shape[2] == 1 && mask.shape[^1] == key.shape[2] && mask.is_floating_point()));
    }

    /// <summary><c>softmax(q kᵀ · scale + mask) v</c> for one query position.</summary>
    /// <param name="query">[B, heads, 1, head_dim].</param>
    /// <param name="key">[B, kv_heads, S, head_dim] (a view of the cache).</param>
    /// <param name="value">[B, kv_heads, S, head_dim].</param>
    /// <param name="mask">Additive mask [B or 1, 1, 1, S], or null.</param>
    /// <param name="scale">Score scale.</param>
    /// <param name="pool">Threads (default: the kernels' shared pool).</param>
    /// <returns>[B, heads, 1, head_dim] f32.</returns>
    /// <exception cref="ArgumentException">Tensors <see cref="Supports"/> refuses.</exception>
    public static Tensor Attend(Tensor query, Tensor key, Tensor value, Tensor? mask, double scale, KernelPool? pool = null)
    {
        if (!Supports(query, key, value, mask))
            throw new ArgumentException($"Decode attention takes f32 CPU tensors with one query position; got query {query.dtype} [{string.Join(", ", query.shape)}], key {key.dtype} [{string.Join(", ", key.shape)}].", nameof(query));
        long b = query.shape[0], heads = query.shape[1], d = query.shape[3], kvHeads = key.shape[1], s = key.shape[2];
        using var q = query.contiguous();
        using var m = mask?.to(ScalarType.Float32).contiguous();
        var output = empty([b, heads, 1, d], ScalarType.Float32);
        if (s == 0 || b == 0) return output.zero_();
        using var keyStorage = key.storage<float>();
        using var valueStorage = value.storage<float>();
        var work = new HeadWork
        {
            Query = (float*)q.storage<float>().data_ptr() + q.storage_offset(),
            Keys = (float*)keyStorage.data_ptr() + key.storage_offset(),
            Values = (float*)valueStorage.data_ptr() + value.storage_offset(),
            Mask = m is null ? null : (float*)m.storage<float>().data_ptr() + m.storage_offset(),
            MaskRowStride = m is null || m.shape[0] == 1 ? 0 : s,
            Output = (float*)output.storage<float>().data_ptr() + output.storage_offset(),
            KeyStrides = (key.stride(0), key.stride(1), key.stride(2)),
            ValueStrides = (value.stride(0), value.stride(1), value.stride(2)),
            Positions = (int)s,
            HeadDim = (int)d,
            KvHeads = (int)kvHeads,
            Groups = (int)(heads / kvHeads),
            Scale = (float)scale,
        };
        pool ??= KernelPool.Shared;
        int items = (int)(b * kvHeads);
        // As the matrix products: below ~256 KiB of keys and values, waking another thread costs more than it saves.
        long bytes = b * kvHeads * s * d * sizeof(float) * 2;
        pool.For(items, bytes < (256 << 10) ? items : 1, new HeadRange(work));
        return output;
    }

    /// <summary>Pointers and sizes of one call (strides in elements).</summary>
    struct HeadWork
    {
        public float* Query, Keys, Values, Mask, Output;
        public long MaskRowStride;
        public (long Row, long Head, long Position) KeyStrides, ValueStrides;
        public int Positions, HeadDim, KvHeads, Groups;
        public float Scale;
    }

    /// <summary>Work items are (row, key/value head) pairs: each reads its keys and values once for its query heads.</summary>
    sealed class HeadRange(HeadWork w) : IRangeWork
    {
        [ThreadStatic] static float[]? scores;

        public void Run(int start, int end)
        {
            int s = w.Positions, d = w.HeadDim, groups = w.Groups;
            if (scores is null || scores.Length < groups * s) scores = new float[Math.Max(groups * s, 4096)];
            fixed (float* all = scores)
            {
                for (int item = start; item < end; item++)
                {
                    int row = item / w.KvHeads, kvHead = item % w.KvHeads;
                    float* keys = w.Keys + row * w.KeyStrides.Row + kvHead * w.KeyStrides.Head;
                    float* values = w.Values + row * w.ValueStrides.Row + kvHead * w.ValueStrides.Head;
                    // Query heads kvHead·groups .. +groups−1 share this key/value head.
                    long firstHead = (long)row * w.KvHeads * groups + (long)kvHead * groups;
                    float* queries = w.Query + firstHead * d;
                    float* outputs = w.Output + firstHead * d;
                    float* mask = w.Mask is null ? null : w.Mask + row * w.MaskRowStride;
                    for (int p = 0; p < s; p++)
                    {
                        var k = new ReadOnlySpan<float>(keys + p * w.KeyStrides.Position, d);
                        for (int g = 0; g < groups; g++)
                            all[g * s + p] = TensorPrimitives.Dot(new ReadOnlySpan<float>(queries + g * d, d), k) * w.Scale + (mask is null ? 0 : mask[p]);
                    }
                    for (int g = 0; g < groups; g++)
                    {
                        var weights = new Span<float>(all + g * s, s);
                        // Softmax with the maximum subtracted (TensorPrimitives.SoftMax does not, and large scores would overflow).
                        float max = TensorPrimitives.Max(weights);
                        TensorPrimitives.Subtract(weights, max, weights);
                        TensorPrimitives.Exp(weights, weights);
                        TensorPrimitives.Multiply(weights, 1 / TensorPrimitives.Sum(weights), weights);
                        var output = new Span<float>(outputs + g * d, d);
                        output.Clear();
                        for (int p = 0; p < s; p++)
                            if (weights[p] != 0) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(values + p * w.ValueStrides.Position, d), weights[p], output, output);
                    }
                }
            }
        }
    }
}
