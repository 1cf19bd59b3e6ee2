using LlavaModal.Core.Attention;
using LlavaModal.Core.Kernels;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Core.Attention;

public sealed class DecodeAttentionTests : IDisposable
{
    // Three threads on any machine, so the (row, kv head) pairs are split even where the shared pool has one.
    readonly KernelPool pool = new(3);

    public void Dispose() => pool.Dispose();

    /// <summary>
    /// Queries [rows, heads, 1, d] and keys/values as the KV cache hands them out: views of the first <paramref name="length"/>
    /// positions of a larger capacity, of rows in the middle of a larger batch (strides of neither S nor B are contiguous).
    /// </summary>
    static (Tensor Q, Tensor K, Tensor V) CacheViews(int rows, int heads, int kvHeads, int d, int length, ScalarType cache, int seed)
    {
        var generator = new Generator((ulong)seed);
        // Transposed from [rows, 1, heads, d] as the decoder makes them.
        var q = randn([rows, 1, heads, d], generator: generator).transpose(1, 2);
        Tensor View() => randn([rows + 2, kvHeads, length + 37, d], generator: generator).to(cache).narrow(0, 1, rows).narrow(2, 0, length);
        return (q, View(), View());
    }

    [Theory]
    [InlineData(1, 4, 4, 64, 1)]
    [InlineData(2, 4, 4, 64, 17)]
    [InlineData(3, 8, 4, 128, 600)]
    [InlineData(1, 14, 2, 64, 333)]
    [InlineData(2, 7, 1, 37, 65)]
    [InlineData(1, 6, 3, 128, 64)]
    [InlineData(2, 2, 2, 5, 129)]
    [InlineData(2, 2, 1, 24, 7)]
    // Rows split into parts whose softmaxes are merged (few rows and key/value heads, positions past 2 x SplitPositions).
    [InlineData(2, 4, 1, 64, 2 * DecodeAttention.SplitPositions)]
    [InlineData(2, 2, 1, 32, 3 * DecodeAttention.SplitPositions + 1)]
    public void Equals_sdpa_and_eager_over_f32_cache_views(int rows, int heads, int kvHeads, int d, int length)
    {
        using var scope = NewDisposeScope();
        var (q, k, v) = CacheViews(rows, heads, kvHeads, d, length, ScalarType.Float32, rows * 1000 + length);
        Assert.False(k.is_contiguous());
        double scale = 1 / Math.Sqrt(d);
        var ours = DecodeAttention.TryAttend(q, k, v, null, scale, pool);
        Assert.NotNull(ours);
        Assert.Equal([rows, heads, 1, d], ours.shape);
        Parity.AssertClose(ours, new SdpaAttention().Attend(q, k, v, null, scale), 1e-5, "decode kernel vs sdpa");
        Parity.AssertClose(ours, new EagerAttention().Attend(q, k, v, null, scale), 1e-5, "decode kernel vs eager");
    }

    [Fact]
    public void A_split_row_gives_the_same_numbers_on_any_number_of_threads()
    {
        using var scope = NewDisposeScope();
        // One row, one kv head: the parts are all there is to share among threads.
        var (q, k, v) = CacheViews(1, 4, 1, 64, 5 * DecodeAttention.SplitPositions + 77, ScalarType.Float32, 11);
        Tensor? first = null;
        foreach (int threads in new[] { 1, 2, 3, 4 })
        {
            using var pooled = new KernelPool(threads);
            var ours = DecodeAttention.TryAttend(q, k, v, null, 0.125, pooled)!;
            first ??= ours;
            Assert.True(ours.allclose(first, 0, 0), $"{threads} threads changed the result");
        }
        Parity.AssertClose(first!, new EagerAttention().Attend(q, k, v, null, 0.125), 1e-5, "split decode kernel vs eager");
    }

    [Fact]
    public void A_nan_in_one_part_of_a_split_row_reaches_the_output()
    {
        using var scope = NewDisposeScope();
        var (q, k, v) = CacheViews(1, 2, 1, 16, 2 * DecodeAttention.SplitPositions + 3, ScalarType.Float32, 12);
        k[0, 0, 2 * DecodeAttention.SplitPositions + 1, 3] = tensor(float.NaN);
        var ours = DecodeAttention.TryAttend(q, k, v, null, 0.25, pool)!;
        Assert.True(ours.isnan().all().item<bool>(), "a NaN score must not be merged away");
    }

    [Fact]
    public unsafe void Rows_of_different_lengths_split_into_their_own_parts()
    {
        using var scope = NewDisposeScope();
        // Two rows of one key/value head: the longer row is split, the shorter one fits in a part (and leaves the rest empty).
        const int heads = 3, d = 32, capacity = 1600;
        int[] lengths = [100, 1500];
        var generator = new Generator(13);
        var q = randn([2, heads, d], generator: generator);
        var keys = randn([2, 1, capacity, d], generator: generator);
        var values = randn([2, 1, capacity, d], generator: generator);
        var output = zeros([2, heads, d]);
        fixed (byte* pq = q.bytes)
        fixed (byte* pk = keys.bytes)
        fixed (byte* pv = values.bytes)
        fixed (byte* po = output.bytes)
        {
            var slots = new LlavaModal.Core.Modules.KvSlots(pk, pv, (long)capacity * d, (long)capacity * d, d, ScalarType.Float32);
            DecodeAttention.Attend((float*)pq, heads, slots, lengths, 0.2, (float*)po, pool);
        }
        for (int b = 0; b < 2; b++)
        {
            var k = keys[b].narrow(1, 0, lengths[b]).unsqueeze(0);
            var v = values[b].narrow(1, 0, lengths[b]).unsqueeze(0);
            var expected = new EagerAttention().Attend(q[b].unsqueeze(0).unsqueeze(2), k, v, null, 0.2);
            Parity.AssertClose(output[b].unsqueeze(0).unsqueeze(2), expected, 1e-5, $"row {b} of {lengths[b]} positions");
        }
    }

    [Theory]
    [InlineData(ScalarType.Float16, 2, 8, 2, 64, 300)]
    [InlineData(ScalarType.BFloat16, 2, 8, 2, 64, 300)]
    [InlineData(ScalarType.Float16, 1, 7, 1, 37, 5)]
    [InlineData(ScalarType.BFloat16, 3, 4, 4, 128, 600)]
    [InlineData(ScalarType.Float16, 1, 4, 2, 64, 2 * DecodeAttention.SplitPositions + 5)]
    public void Widens_a_16_bit_cache_exactly(ScalarType cache, int rows, int heads, int kvHeads, int d, int length)
    {
        using var scope = NewDisposeScope();
        var (q, k, v) = CacheViews(rows, heads, kvHeads, d, length, cache, length);
        double scale = 0.3;
        // The cache's own values in f32: what the kernel must have attended to.
        var expected = new EagerAttention().Attend(q, k.to(ScalarType.Float32), v.to(ScalarType.Float32), null, scale);
        Parity.AssertClose(DecodeAttention.TryAttend(q, k, v, null, scale, pool)!, expected, 1e-5, $"decode kernel over a {cache} cache");
    }

    [Fact]
    public void Queries_with_strided_columns_or_at_an_offset_are_read_as_their_values()
    {
        using var scope = NewDisposeScope();
        var (_, k, v) = CacheViews(2, 4, 2, 16, 40, ScalarType.Float32, 5);
        // Every other element of a wider tensor: column stride 2.
        var strided = randn([2, 4, 1, 32]).view(2, 4, 1, 16, 2).select(4, 0);
        Assert.NotEqual(1, strided.stride(3));
        Parity.AssertClose(DecodeAttention.TryAttend(strided, k, v, null, 0.25, pool)!, new EagerAttention().Attend(strided.contiguous(), k, v, null, 0.25), 1e-5, "strided query");
        // Contiguous but not at the start of its storage (rows 1-2 of three).
        var offset = randn([3, 4, 1, 16]).narrow(0, 1, 2);
        Assert.True(offset.is_contiguous());
        Parity.AssertClose(DecodeAttention.TryAttend(offset, k, v, null, 0.25, pool)!, new EagerAttention().Attend(offset.clone(), k, v, null, 0.25), 1e-5, "query at an offset");
    }

    [Fact]
    public void Declines_what_it_does_not_compute()
    {
        using var scope = NewDisposeScope();
        var (q, k, v) = CacheViews(1, 4, 2, 8, 9, ScalarType.Float32, 1);
        Tensor? Try(Tensor query, Tensor key, Tensor value, Tensor? mask = null) => DecodeAttention.TryAttend(query, key, value, mask, 0.5, pool);
        Assert.NotNull(Try(q, k, v));
        Assert.Null(Try(q, k, v, zeros(1, 1, 1, 9)));                                      // a mask
        Assert.Null(Try(randn(1, 4, 2, 8), k, v));                                         // two positions
        Assert.Null(Try(q.to(ScalarType.Float64), k, v));                                  // f64 queries
        Assert.Null(Try(q, k, v.to(ScalarType.Float16)));                                  // keys and values of two dtypes
        Assert.Null(Try(randn(1, 3, 1, 8), k, v));                                         // heads not a multiple of kv heads
        Assert.Null(Try(q, k.transpose(2, 3).contiguous().transpose(2, 3), v));            // rows not contiguous
        Assert.Null(Try(q.detach().requires_grad_(), k, v));                               // autograd
    }

    [Fact]
    public unsafe void Every_half_widens_to_the_float_dotnet_gives_it()
    {
        // All 65,536 bit patterns (subnormals, infinities, NaNs, both zeros), plus a ragged tail past the vector loop.
        var halves = Enumerable.Range(0, 65536 + 5).Select(i => (ushort)(i * 40503 % 65536)).ToArray();
        var floats = new float[halves.Length];
        fixed (ushort* source = halves)
        fixed (float* target = floats)
            DecodeAttention.WidenHalf(source, target, halves.Length);
        for (int i = 0; i < halves.Length; i++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf(halves[i]);
            if (float.IsNaN(expected)) Assert.True(float.IsNaN(floats[i]), $"0x{halves[i]:x4}: {floats[i]}");
            else Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(floats[i]));
        }
    }
}
