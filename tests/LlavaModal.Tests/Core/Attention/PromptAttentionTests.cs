using LlavaModal.Core.Attention;
using LlavaModal.Core.Kernels;
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

    [Fact]
    public void Declines_what_it_does_not_compute()
    {
        using var scope = NewDisposeScope();
        using var pool = new KernelPool(1);
        Tensor Q(int d, ScalarType type = ScalarType.Float32) => randn([1, 2, 8, d]).to(type);
        Assert.Null(PromptAttention.TryAttendCausal(Q(80), Q(80), Q(80), 0.1, pool));                         // head_dim not a multiple of 64
        Assert.Null(PromptAttention.TryAttendCausal(Q(64, ScalarType.Float16), Q(64, ScalarType.Float16), Q(64, ScalarType.Float16), 0.1, pool));
        Assert.Null(PromptAttention.TryAttendCausal(Q(64), randn([1, 2, 9, 64]), randn([1, 2, 9, 64]), 0.1, pool)); // keys beyond the queries
        Assert.Null(PromptAttention.TryAttendCausal(Q(64).requires_grad_(), Q(64), Q(64), 0.1, pool));         // autograd
    }
}
