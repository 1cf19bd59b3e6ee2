using LlavaModal.Core.Attention;
using LlavaModal.Core.Kernels;
using LlavaModal.Core.Modules;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Core.Attention;

/// <summary>The C# causal prompt attention against libtorch's <c>is_causal</c> kernel, and the inputs it leaves to libtorch.</summary>
public class PromptAttentionTests
{
    [Theory]
    // batch, query heads, key/value heads, positions, head_dim: blocks of 16 queries and 64 keys, ragged at both ends.
    [InlineData(1, 4, 4, 1, 64)]
    [InlineData(2, 4, 2, 17, 64)]
    [InlineData(1, 14, 2, 65, 64)]
    [InlineData(1, 8, 8, 200, 64)]
    [InlineData(2, 6, 3, 130, 128)]
    public void Matches_libtorch_s_causal_kernel(int batch, int heads, int kvHeads, int positions, int headDim)
    {
        if (!System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated) return;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var generator = new Generator((ulong)(positions * 31 + heads));
        // Queries and keys as the decoder hands them over: transposed views of [B, T, heads, d].
        var q = randn([batch, positions, heads, headDim], generator: generator).transpose(1, 2);
        var k = randn([batch, positions, kvHeads, headDim], generator: generator).transpose(1, 2);
        var v = randn([batch, kvHeads, positions, headDim], generator: generator);
        using var pool = new KernelPool(3);
        foreach (double scale in new[] { 1 / Math.Sqrt(headDim), 0.3 })
        {
            var ours = PromptAttention.TryAttendCausal(q, k, v, scale, pool) ?? throw new InvalidOperationException("the kernel declined");
            Parity.AssertClose(ours, SdpaAttention.AttendCausal(q, k, v, scale), 1e-5, $"[{batch}, {heads}/{kvHeads}, {positions}, {headDim}] scale {scale}");
        }
    }

    [Theory]
    // batch, query heads, key/value heads, cached positions before the queries, queries, head_dim: a prompt's later
    // pieces, where the diagonal crosses key blocks at every offset (queries before a key block skip it).
    [InlineData(1, 4, 4, 1, 1, 64)]
    [InlineData(1, 4, 2, 5, 17, 64)]
    [InlineData(2, 14, 2, 64, 65, 64)]
    [InlineData(1, 8, 8, 100, 31, 64)]
    [InlineData(1, 6, 3, 127, 130, 128)]
    [InlineData(1, 4, 1, 300, 2, 64)]
    public void Matches_the_masked_reference_when_keys_run_ahead_of_the_queries(int batch, int heads, int kvHeads, int past, int positions, int headDim)
    {
        if (!System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated) return;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var generator = new Generator((ulong)(past * 131 + positions));
        var q = randn([batch, positions, heads, headDim], generator: generator).transpose(1, 2);
        var k = randn([batch, past + positions, kvHeads, headDim], generator: generator).transpose(1, 2);
        var v = randn([batch, kvHeads, past + positions, headDim], generator: generator);
        var mask = AttentionMask.Build(null, batch, past, positions, null, ScalarType.Float32, CPU);
        using var pool = new KernelPool(3);
        double scale = 1 / Math.Sqrt(headDim);
        var ours = PromptAttention.TryAttendCausal(q, k, v, scale, pool) ?? throw new InvalidOperationException("the kernel declined");
        Parity.AssertClose(ours, new SdpaAttention().Attend(q, k, v, mask, scale), 1e-5, $"[{batch}, {heads}/{kvHeads}, {past} + {positions}, {headDim}]");
    }

    [Fact]
    public void Declines_what_it_does_not_compute()
    {
        using var scope = NewDisposeScope();
        using var pool = new KernelPool(1);
        Tensor Q(int d, ScalarType type = ScalarType.Float32) => randn([1, 2, 8, d]).to(type);
        Assert.Null(PromptAttention.TryAttendCausal(Q(80), Q(80), Q(80), 0.1, pool));                         // head_dim not a multiple of 64
        Assert.Null(PromptAttention.TryAttendCausal(Q(64, ScalarType.Float16), Q(64, ScalarType.Float16), Q(64, ScalarType.Float16), 0.1, pool));
        Assert.Null(PromptAttention.TryAttendCausal(Q(64), randn([1, 2, 7, 64]), randn([1, 2, 7, 64]), 0.1, pool)); // fewer keys than queries
        Assert.Null(PromptAttention.TryAttendCausal(Q(64).requires_grad_(), Q(64), Q(64), 0.1, pool));         // autograd
    }

    [Theory]
    // query heads, key/value heads, cached positions, new positions, head_dim, cache capacity, cache dtype: one cache
    // row as a prompt piece reads it (queries token by token, keys [kv_heads, capacity, d] with room past the piece).
    [InlineData(4, 2, 0, 17, 64, 40, ScalarType.Float32)]
    [InlineData(8, 2, 33, 70, 64, 128, ScalarType.Float32)]
    [InlineData(4, 1, 5, 9, 16, 20, ScalarType.Float32)]
    [InlineData(4, 2, 3, 12, 64, 16, ScalarType.Float16)]
    [InlineData(8, 2, 70, 100, 64, 200, ScalarType.Float16)]
    [InlineData(4, 1, 65, 40, 128, 110, ScalarType.BFloat16)]
    [InlineData(2, 2, 0, 6, 16, 6, ScalarType.BFloat16)]
    // Few queries over long rows: the decode kernel splits each query's positions into parts.
    [InlineData(4, 1, 1100, 7, 16, 1110, ScalarType.Float32)]
    [InlineData(2, 2, 1530, 5, 16, 1540, ScalarType.BFloat16)]
    public unsafe void A_piece_on_a_cache_row_matches_the_masked_reference(int heads, int kvHeads, int past, int positions, int headDim, int capacity, ScalarType cacheType)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var generator = new Generator((ulong)(past * 17 + positions));
        var q = randn([positions, heads, headDim], generator: generator);
        var keys = randn([1, kvHeads, capacity, headDim], generator: generator).to(cacheType);
        var values = randn([1, kvHeads, capacity, headDim], generator: generator).to(cacheType);
        double scale = 1 / Math.Sqrt(headDim);
        // The reference reads the cache's values as the kernels do: widened to f32.
        var k = keys.narrow(2, 0, past + positions).to(ScalarType.Float32);
        var v = values.narrow(2, 0, past + positions).to(ScalarType.Float32);
        var mask = AttentionMask.Build(null, 1, past, positions, null, ScalarType.Float32, CPU);
        var expected = new SdpaAttention().Attend(q.unsqueeze(0).transpose(1, 2), k, v, mask, scale).transpose(1, 2)[0];
        using var pool = new KernelPool(3);
        var what = $"[{heads}/{kvHeads}, {past} + {positions}, {headDim}] {cacheType}";
        fixed (byte* pq = q.bytes)
        fixed (byte* pk = keys.bytes)
        fixed (byte* pv = values.bytes)
        {
            var slots = new KvSlots(pk, pv, (long)kvHeads * capacity * headDim, (long)capacity * headDim, headDim, cacheType);
            var query = (float*)pq;
            Tensor Attend(bool blockwise, float* query, KvSlots slots)
            {
                var output = zeros([positions, heads, headDim]);
                fixed (byte* po = output.bytes)
                    if (blockwise) PromptAttention.Attend(query, heads, positions, slots, past, scale, (float*)po, pool);
                    else DecodeAttention.AttendCausal(query, heads, slots, DecodeAttention.CausalPositions(past, positions), scale, (float*)po, pool);
                return output;
            }
            if (DecodeAttention.Runs) Parity.AssertClose(Attend(false, query, slots), expected, 1e-5, what + " one query at a time");
            if (PromptAttention.Serves(headDim))
            {
                var blockwise = Attend(true, query, slots);
                Parity.AssertClose(blockwise, expected, 1e-5, what + " blockwise");
                // The same kernel as on f32 tensors [1, heads, T, d], the cache widened first: the same numbers (a 16-bit
                // cache's blocks are widened exactly as they are read).
                var onTensors = PromptAttention.TryAttendCausal(q.unsqueeze(0).transpose(1, 2), k, v, scale, pool)!;
                Assert.True(blockwise.allclose(onTensors.transpose(1, 2)[0], 0, 0), what + ": the cache-row entry differs from the tensor entry");
            }
        }
    }
}
