using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LlavaModal.Core.Kernels;

/// <summary>
/// <c>exp</c> in f32 on 256-bit vectors (512-bit ones as two halves; Cephes' reduction by ln 2 and degree-5 polynomial: within 2 ulp of the exact value,
/// exactly 1 at 0, 0 below ln(FLT_MIN), infinity from 88.38, NaN kept) and the two loops the decode step runs on it:
/// softmax numerators and SiLU times up.
/// </summary>
/// <remarks>By hand, not <c>TensorPrimitives.Exp</c>/<c>Sigmoid</c>: those generic library methods (and the vector
/// <c>Exp</c> under them, which an optimised caller does not inline) run unoptimised until the runtime recompiles them,
/// which in a short process is most of the run: 7% of a 70m decode profile's samples, and 70m int4 decode at depth 1
/// (2 threads, 33 tokens) ran 10-20% faster without it.</remarks>
static unsafe class Exponentials
{
    const float Log2E = 1.44269504088896341f;
    // ln 2 in two parts, so n · ln 2 is subtracted without rounding away the reduced argument.
    const float Ln2High = 0.693359375f, Ln2Low = -2.12194440e-4f;
    const float Lowest = -87.3365448f, Highest = 88.3762626f;
    const float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f, P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

    /// <summary>Two halves through the 256-bit form: one polynomial to keep, and this loop is not where the time goes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x) => Vector512.Create(Exp(x.GetLower()), Exp(x.GetUpper()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        var clamped = Vector256.Min(Vector256.Max(x, Vector256.Create(Lowest)), Vector256.Create(Highest));
        var n = Vector256.Round(clamped * Vector256.Create(Log2E));
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2High), clamped);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Low), r);
        var y = Vector256.FusedMultiplyAdd(Vector256.Create(P0), r, Vector256.Create(P1));
        y = Vector256.FusedMultiplyAdd(y, r, Vector256.Create(P2));
        y = Vector256.FusedMultiplyAdd(y, r, Vector256.Create(P3));
        y = Vector256.FusedMultiplyAdd(y, r, Vector256.Create(P4));
        y = Vector256.FusedMultiplyAdd(y, r, Vector256.Create(P5));
        y = Vector256.FusedMultiplyAdd(y, r * r, r) + Vector256<float>.One;
        var scale = Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127), 23).AsSingle();
        var e = y * scale;
        e = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(Lowest)), Vector256<float>.Zero, e);
        e = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(x, Vector256.Create(Highest)), Vector256.Create(float.PositiveInfinity), e);
        return Vector256.ConditionalSelect(Vector256.Equals(x, x), e, x);
    }

    /// <summary>
    /// <paramref name="n"/> values (at least one) as exp(value − their maximum), in place; returns their sum (NaN in, NaN
    /// out) and in <paramref name="maximum"/> that maximum (softmaxes of a row's parts merge with it).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float SoftmaxNumerators(float* p, int n, out float maximum)
    {
        float top = float.NegativeInfinity;
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var m = Vector256.Create(float.NegativeInfinity);
            for (; i + 8 <= n; i += 8) m = Vector256.Max(m, Vector256.Load(p + i));
            for (int k = 0; k < 8; k++) top = MathF.Max(top, m.GetElement(k));
        }
        for (; i < n; i++) top = MathF.Max(top, p[i]);
        maximum = top;
        float sum = 0;
        i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var shift = Vector256.Create(top);
            var sums = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8)
            {
                var e = Exp(Vector256.Load(p + i) - shift);
                e.Store(p + i);
                sums += e;
            }
            // The last few through the same polynomial, padded with -infinity (whose exp adds 0).
            if (i < n)
            {
                var last = stackalloc float[8];
                for (int k = 0; k < 8; k++) last[k] = i + k < n ? p[i + k] : float.NegativeInfinity;
                var e = Exp(Vector256.Load(last) - shift);
                e.Store(last);
                sums += e;
                for (int k = 0; i + k < n; k++) p[i + k] = last[k];
                i = n;
            }
            sum = Vector256.Sum(sums);
        }
        for (; i < n; i++) sum += p[i] = MathF.Exp(p[i] - top);
        return sum;
    }

    /// <summary><c>gate[i] = gate[i] · sigmoid(gate[i]) · up[i]</c> (SiLU times up, rounded in that order) over <paramref name="n"/> values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SiluTimes(float* gate, float* up, long n)
    {
        long i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8)
            {
                var g = Vector256.Load(gate + i);
                var sigmoid = Vector256<float>.One / (Vector256<float>.One + Exp(-g));
                (g * sigmoid * Vector256.Load(up + i)).Store(gate + i);
            }
        for (; i < n; i++)
        {
            float g = gate[i];
            gate[i] = g * (1 / (1 + MathF.Exp(-g))) * up[i];
        }
    }
}
