using System.Runtime.Intrinsics;
using LlavaModal.Core.Kernels;

namespace LlavaModal.Tests.Core.Kernels;

public class ExponentialsTests
{
    /// <summary>Distance in units in the last place between two positive floats.</summary>
    static long Ulps(float a, float b) => Math.Abs((long)BitConverter.SingleToInt32Bits(a) - BitConverter.SingleToInt32Bits(b));

    static float[] Exp512(float[] x)
    {
        var result = new float[x.Length];
        for (int i = 0; i + 16 <= x.Length; i += 16) Exponentials.Exp(Vector512.Create(x.AsSpan(i, 16))).CopyTo(result.AsSpan(i));
        return result;
    }

    static float[] Exp256(float[] x)
    {
        var result = new float[x.Length];
        for (int i = 0; i + 8 <= x.Length; i += 8) Exponentials.Exp(Vector256.Create(x.AsSpan(i, 8))).CopyTo(result.AsSpan(i));
        return result;
    }

    [Fact]
    public void Exp_is_within_two_ulps_over_the_normal_range_at_both_widths()
    {
        // Every 1/64 from -87 to 88, and points between, against exp in double rounded once.
        var x = Enumerable.Range(0, 16 * 1400).Select(i => -87f + i * (175f / (16 * 1400 - 1)) + (i % 7) * 1e-3f).ToArray();
        foreach (var (name, values) in new[] { ("512", Exp512(x)), ("256", Exp256(x)) })
            for (int i = 0; i < x.Length; i++)
            {
                float expected = (float)Math.Exp(x[i]);
                Assert.True(Ulps(values[i], expected) <= 2, $"{name}: exp({x[i]:R}) = {values[i]:R}, expected {expected:R}");
            }
    }

    [Fact]
    public void Exp_of_special_values()
    {
        float[] x = [0f, -0f, float.NegativeInfinity, float.PositiveInfinity, float.NaN, -88f, -87.5f, -100f, 88.5f, 100f, 1f, -1f, 1e-8f, -1e-8f, 88.3f, -87.3f];
        float[] expected = [1f, 1f, 0f, float.PositiveInfinity, float.NaN, 0f, 0f, 0f, float.PositiveInfinity, float.PositiveInfinity, MathF.E, 1 / MathF.E, 1f, 1f, (float)Math.Exp(88.3f), (float)Math.Exp(-87.3f)];
        foreach (var values in new[] { Exp512(x), Exp256([.. x[..8]]).Concat(Exp256([.. x[8..]])).ToArray() })
            for (int i = 0; i < x.Length; i++)
            {
                if (float.IsNaN(expected[i])) Assert.True(float.IsNaN(values[i]), $"exp(NaN) = {values[i]}");
                else Assert.True(values[i] == expected[i] || Ulps(values[i], expected[i]) <= 2, $"exp({x[i]:R}) = {values[i]:R}, expected {expected[i]:R}");
            }
    }

    [Fact]
    public unsafe void Softmax_numerators_match_the_definition_at_every_length_and_keep_nan()
    {
        var random = new Random(5);
        for (int n = 1; n <= 70; n++)
        {
            var p = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 40 - 20)).ToArray();
            if (n % 5 == 0) p[n / 2] = float.NegativeInfinity;
            // The difference rounded to f32 first, as the kernel (and TensorPrimitives before it) computes it.
            float top = p.Max();
            var reference = p.Select(v => Math.Exp(v - top)).ToArray();
            float sum, maximum;
            fixed (float* pp = p) sum = Exponentials.SoftmaxNumerators(pp, n, out maximum);
            Assert.Equal(top, maximum);
            for (int i = 0; i < n; i++) Assert.True(Math.Abs(p[i] - reference[i]) <= 3e-7 * reference[i] + 1e-45, $"n {n}, [{i}]: {p[i]:R} vs {reference[i]:R}");
            Assert.Equal(reference.Sum(), sum, 1e-5 * reference.Sum());
            Assert.Contains(1f, p);
        }
        var withNan = new float[] { 1, 2, float.NaN, 3, 4, 5, 6, 7, 8, 9 };
        fixed (float* pp = withNan) Assert.True(float.IsNaN(Exponentials.SoftmaxNumerators(pp, withNan.Length, out _)));
    }

    [Fact]
    public unsafe void Silu_times_up_matches_the_definition_past_every_vector_width()
    {
        var random = new Random(6);
        foreach (int n in new[] { 1, 7, 8, 15, 16, 17, 33, 100 })
        {
            var gate = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 30 - 15)).ToArray();
            var up = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
            gate[0] = -100;
            var expected = gate.Zip(up, (g, u) => g / (1 + Math.Exp(-g)) * u).ToArray();
            fixed (float* g = gate)
            fixed (float* u = up)
                Exponentials.SiluTimes(g, u, n);
            for (int i = 0; i < n; i++) Assert.True(Math.Abs(gate[i] - expected[i]) <= 1e-6 * Math.Abs(expected[i]) + 1e-30, $"n {n}, [{i}]: {gate[i]:R} vs {expected[i]:R}");
        }
    }
}
