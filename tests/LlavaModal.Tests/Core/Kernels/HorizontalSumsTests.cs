using System.Runtime.Intrinsics;
using LlavaModal.Core.Kernels;

namespace LlavaModal.Tests.Core.Kernels;

public class HorizontalSumsTests
{
    [Fact]
    public void Four_horizontal_sums_at_once_are_each_vector_s_sum_bit_for_bit()
    {
        if (!Vector512.IsHardwareAccelerated) return;
        var random = new Random(7);
        for (int trial = 0; trial < 200; trial++)
        {
            // Magnitudes 1e-3 to 1e5 with both signs: sums whose value depends on the order of the additions.
            var v = Enumerable.Range(0, 4).Select(_ => Vector512.Create(Enumerable.Range(0, 16).Select(_ => (float)((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-3, 6)))).ToArray())).ToArray();
            var four = HorizontalSums.Sum4(v[0], v[1], v[2], v[3]);
            for (int k = 0; k < 4; k++) Assert.Equal(BitConverter.SingleToInt32Bits(HorizontalSums.Sum(v[k])), BitConverter.SingleToInt32Bits(four.GetElement(k)));
        }
    }
}
