using LlavaModal.Core.Attention;
using LlavaModal.Core.Kernels;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Core.Attention;

public class DecodeAttentionTests
{
    /// <summary>Keys and values as a decode step sees them: the first rows and positions of a larger preallocated cache.</summary>
    static (Tensor Keys, Tensor Values) CacheView(Generator generator, long rows, long kvHeads, long positions, long d)
    {
        var keys = randn([rows + 1, kvHeads, positions + 7, d], generator: generator);
        var values = randn([rows + 1, kvHeads, positions + 7, d], generator: generator);
        return (keys.narrow(0, 0, rows).narrow(2, 0, positions), values.narrow(0, 0, rows).narrow(2, 0, positions));
    }

    [Theory]
    [InlineData(1, 4, 4, 1)]     // one position, multi-head
    [InlineData(1, 8, 2, 37)]    // grouped query heads (4 per key/value head)
    [InlineData(3, 32, 4, 300)]  // the 1.1B shape's grouping, a batch, enough work for several threads
    public void Matches_libtorch_eager_attention_on_cache_views(int rows, int heads, int kvHeads, int positions)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(11);
        const int d = 64;
        var q = randn([rows, 1, heads, d], generator: generator).transpose(1, 2); // as the decoder hands it over
        var (k, v) = CacheView(generator, rows, kvHeads, positions, d);
        double scale = 1 / Math.Sqrt(d);
        using var pool = new KernelPool(3);
        var ours = DecodeAttention.Attend(q, k, v, null, scale, pool);
        var eager = new EagerAttention().Attend(q, k, v, null, scale);
        Parity.AssertClose(ours, eager, 1e-5, $"[{rows}, {heads}/{kvHeads}, {positions}]");
    }

    [Fact]
    public void Honours_an_additive_padding_mask_per_row_and_large_scores()
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(3);
        const int rows = 3, heads = 6, kvHeads = 3, positions = 20, d = 32;
        // Scores of several hundred: a softmax without its maximum subtracted would overflow.
        var q = (randn([rows, heads, 1, d], generator: generator) * 40).contiguous();
        var (k, v) = CacheView(generator, rows, kvHeads, positions, d);
        // Row b sees its first 8, 14 and 20 positions, as the engine's ragged decode step.
        var lengths = tensor(new long[] { 8, 14, 20 }).view(rows, 1);
        var allowed = arange(positions).unsqueeze(0).lt(lengths);
        var mask = zeros([rows, 1, 1, positions]);
        mask.masked_fill_(allowed.logical_not().view(rows, 1, 1, positions), float.MinValue);
        var ours = DecodeAttention.Attend(q, k, v, mask, 1 / Math.Sqrt(d));
        var eager = new EagerAttention().Attend(q, k, v, mask, 1 / Math.Sqrt(d));
        Assert.True(ours.isfinite().all().item<bool>());
        Parity.AssertClose(ours, eager, 1e-5, "masked");
        // A masked position changes nothing: row 0 equals attention over its 8 positions alone.
        var alone = new EagerAttention().Attend(q.narrow(0, 0, 1), k.narrow(0, 0, 1).narrow(2, 0, 8), v.narrow(0, 0, 1).narrow(2, 0, 8), null, 1 / Math.Sqrt(d));
        Parity.AssertClose(ours.narrow(0, 0, 1), alone, 1e-5, "row 0 alone");
    }

    [Fact]
    public void Refuses_what_it_does_not_compute()
    {
        using var scope = NewDisposeScope();
        var q = randn([1, 4, 1, 16]);
        var k = randn([1, 2, 5, 16]);
        Assert.True(DecodeAttention.Supports(q, k, k, null));
        Assert.False(DecodeAttention.Supports(randn([1, 4, 2, 16]), k, k, null));          // two query positions (prefill)
        Assert.False(DecodeAttention.Supports(q.to(ScalarType.BFloat16), k, k, null));     // a 16-bit cache or query
        Assert.False(DecodeAttention.Supports(q, randn([1, 3, 5, 16]), randn([1, 3, 5, 16]), null)); // 4 heads over 3
        Assert.False(DecodeAttention.Supports(q, k.transpose(2, 3).contiguous().transpose(2, 3), k, null)); // head vectors not contiguous
        Assert.Throws<ArgumentException>(() => DecodeAttention.Attend(randn([1, 4, 2, 16]), k, k, null, 0.25));
    }
}
