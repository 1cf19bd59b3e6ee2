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
}
