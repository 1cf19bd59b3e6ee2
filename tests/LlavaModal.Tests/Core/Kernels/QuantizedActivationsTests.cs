using LlavaModal.Core.Kernels;

namespace LlavaModal.Tests.Core.Kernels;

public class QuantizedActivationsTests
{
    [Fact]
    public void Halves_regroup_every_four_blocks_and_biases_undo_the_flipped_top_bit()
    {
        // Two tokens of 6 blocks: one whole group of four, then two blocks left in block order.
        const int columns = 6 * 32;
        var random = new Random(3);
        var x = Enumerable.Range(0, 2 * columns).Select(_ => (float)(random.NextDouble() * 4 - 1.5)).ToArray();
        var q = QuantizedActivations.Of(x, 2, columns);
        for (int t = 0; t < 2; t++)
        {
            var values = q.ValuesOf(t).ToArray();
            var halves = q.HalvesOf(t).ToArray();
            var biases = q.BiasesOf(t).ToArray();
            for (int b = 0; b < 4; b++)
                for (int i = 0; i < 16; i++)
                {
                    Assert.Equal(values[b * 32 + i], halves[b * 16 + i]);
                    Assert.Equal(values[b * 32 + 16 + i], halves[64 + b * 16 + i]);
                }
            Assert.Equal(values[128..], halves[128..]);
            for (int b = 0; b < 6; b++)
            {
                int sum = values.Skip(b * 32).Take(32).Sum(v => v);
                Assert.NotEqual(0, sum);
                Assert.Equal(-128 * sum, biases[b]);
            }
        }
    }
}
