using System.Diagnostics;
using System.Runtime.Intrinsics;
using LlavaModal.Core.Kernels;
using static TorchSharp.torch;

namespace LlavaModal.Benchmarks;

/// <summary>
/// Prefill-sized products (many tokens against one weight matrix), GFLOP/s: our tiled product (<c>Gemm</c>, weights
/// decoded to f32 panels) and the small-batch row kernels (<c>MatMul</c>) per weight format, against libtorch's f32 GEMM
/// on the same shapes, in one process; with the FMA peak of one core probed on the spot for scale.
/// </summary>
static class GemmBenchmark
{
    public static int Run(BenchArgs args)
    {
        int reps = args.Int("--reps", 5, min: 1);
        int threads = args.Int("--threads", Environment.ProcessorCount, min: 1);
        var tokenCounts = args.String("--tokens", "16,134,512").Split(',').Select(int.Parse).ToList();
        var formats = args.String("--formats", "f32,bf16,int8,int4").Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(f => WeightFormats.Parse(f) ?? throw new ArgumentException($"--formats: '{f}' is not a weight format.")).ToList();
        bool rows = !args.Flag("--skip-rows");
        var isaName = args.String("--isa", KernelIsas.Best.ToString());
        var isa = Enum.TryParse<KernelIsa>(isaName, ignoreCase: true, out var parsed) && KernelIsas.IsSupported(parsed)
            ? parsed : throw new ArgumentException($"--isa: '{isaName}' is not one of this CPU's: {string.Join(", ", KernelIsas.Supported)}.");
        args.RejectUnknown();
        set_num_threads(threads);
        using var pool = new KernelPool(threads);
        // The 1.1B LLaMA's q/o (2048 x 2048), gate/up (5632 x 2048) and down (2048 x 5632), and the 70m decoder's MLP.
        (int Out, int In)[] shapes = [(2048, 2048), (5632, 2048), (2048, 5632), (1376, 512), (512, 1376)];
        Console.WriteLine($"gemm: {threads} threads, our kernels on {isa}, median of {reps}; {Report.Machine()}");
        double peak = FmaPeak(pool);
        Console.WriteLine($"FMA peak probe ({threads} threads, independent f32 FMAs on the widest vectors): {Report.F(peak, 0)} GFLOP/s");
        var table = new List<IReadOnlyList<string>>();
        var random = new Random(1);
        foreach (var (o, i) in shapes)
        {
            var values = new float[(long)o * i];
            for (long k = 0; k < values.Length; k++) values[k] = (float)(random.NextDouble() - 0.5);
            using var dense = tensor(values, [o, i]);
            foreach (int t in tokenCounts)
            {
                double flops = 2.0 * t * o * i;
                var x = new float[(long)t * i];
                for (long k = 0; k < x.Length; k++) x[k] = (float)(random.NextDouble() - 0.5);
                var y = new float[(long)t * o];
                using var xt = tensor(x, [t, i]);
                double torchMs = KernelBenchmark.Time(reps, () =>
                {
                    using var r = xt.matmul(dense.t());
                });
                table.Add([$"{o}x{i}", t.ToString(), "libtorch f32", Report.F(torchMs, 2), Report.F(flops / torchMs / 1e6, 1), "1.00", Share(flops / torchMs / 1e6, peak)]);
                foreach (var format in formats)
                {
                    using var packed = PackedMatrix.Pack(format, o, i, values);
                    double gemmMs = KernelBenchmark.Time(reps, () => Multiply(packed, x, t, y, isa, pool, tiled: true));
                    table.Add([$"{o}x{i}", t.ToString(), $"ours tiled {format.Name()}", Report.F(gemmMs, 2), Report.F(flops / gemmMs / 1e6, 1), Report.F(torchMs / gemmMs, 2), Share(flops / gemmMs / 1e6, peak)]);
                    if (Int4Gemm.Serves(packed, isa) || Int8Gemm.Serves(packed, isa))
                    {
                        double integerMs = KernelBenchmark.Time(reps, () => MultiplyInteger(packed, x, t, y, isa, pool));
                        table.Add([$"{o}x{i}", t.ToString(), $"ours integer {format.Name()}", Report.F(integerMs, 2), Report.F(flops / integerMs / 1e6, 1), Report.F(torchMs / integerMs, 2), Share(flops / integerMs / 1e6, peak)]);
                    }
                    if (!rows) continue;
                    double rowMs = KernelBenchmark.Time(reps, () => Multiply(packed, x, t, y, isa, pool, tiled: false));
                    table.Add([$"{o}x{i}", t.ToString(), $"ours rows {format.Name()}", Report.F(rowMs, 2), Report.F(flops / rowMs / 1e6, 1), Report.F(torchMs / rowMs, 2), Share(flops / rowMs / 1e6, peak)]);
                }
            }
        }
        Report.Table(["shape", "tokens", "product", "ms", "GFLOP/s", "vs libtorch", "of peak"], table);
        return 0;
    }

    static string Share(double gflops, double peak) => Report.F(gflops / peak * 100, 0) + "%";

    /// <summary>GFLOP/s of independent FMA chains on every pool thread (median of 5): the most any f32 product can reach here.</summary>
    static double FmaPeak(KernelPool pool)
    {
        const int steps = 20_000_000;
        var work = new FmaChains(steps);
        var times = new List<double>();
        for (int r = 0; r < 6; r++)
        {
            var clock = Stopwatch.StartNew();
            pool.For(pool.Threads, 1, work);
            if (r > 0) times.Add(clock.Elapsed.TotalSeconds);
        }
        return pool.Threads * FmaChains.FlopsPerStep * (double)steps / Report.Median(times) / 1e9;
    }

    sealed class FmaChains(int steps) : IRangeWork
    {
        /// <summary>Ten chains of the widest vector: enough independent FMAs to cover their latency on every core measured.</summary>
        public static int FlopsPerStep => 10 * 2 * (Vector512.IsHardwareAccelerated ? 16 : 8);

        public float Sink;

        public void Run(int start, int end)
        {
            for (int i = start; i < end; i++) Sink += Vector512.IsHardwareAccelerated ? Chains512() : Chains256();
        }

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        float Chains512()
        {
            var m = Vector512.Create(0.999f);
            var a = Vector512.Create(1e-3f);
            Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default, c8 = default, c9 = default;
            for (int s = 0; s < steps; s++)
            {
                c0 = Vector512.FusedMultiplyAdd(c0, m, a);
                c1 = Vector512.FusedMultiplyAdd(c1, m, a);
                c2 = Vector512.FusedMultiplyAdd(c2, m, a);
                c3 = Vector512.FusedMultiplyAdd(c3, m, a);
                c4 = Vector512.FusedMultiplyAdd(c4, m, a);
                c5 = Vector512.FusedMultiplyAdd(c5, m, a);
                c6 = Vector512.FusedMultiplyAdd(c6, m, a);
                c7 = Vector512.FusedMultiplyAdd(c7, m, a);
                c8 = Vector512.FusedMultiplyAdd(c8, m, a);
                c9 = Vector512.FusedMultiplyAdd(c9, m, a);
            }
            return Vector512.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9);
        }

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        float Chains256()
        {
            var m = Vector256.Create(0.999f);
            var a = Vector256.Create(1e-3f);
            Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default, c8 = default, c9 = default;
            for (int s = 0; s < steps; s++)
            {
                c0 = Vector256.FusedMultiplyAdd(c0, m, a);
                c1 = Vector256.FusedMultiplyAdd(c1, m, a);
                c2 = Vector256.FusedMultiplyAdd(c2, m, a);
                c3 = Vector256.FusedMultiplyAdd(c3, m, a);
                c4 = Vector256.FusedMultiplyAdd(c4, m, a);
                c5 = Vector256.FusedMultiplyAdd(c5, m, a);
                c6 = Vector256.FusedMultiplyAdd(c6, m, a);
                c7 = Vector256.FusedMultiplyAdd(c7, m, a);
                c8 = Vector256.FusedMultiplyAdd(c8, m, a);
                c9 = Vector256.FusedMultiplyAdd(c9, m, a);
            }
            return Vector256.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9);
        }
    }

    static unsafe void MultiplyInteger(PackedMatrix w, float[] x, int tokens, float[] y, KernelIsa isa, KernelPool pool)
    {
        fixed (float* px = x)
        fixed (float* py = y)
        {
            if (w.Format == WeightFormat.Int8) Int8Gemm.Multiply(w, px, tokens, py, isa, pool);
            else Int4Gemm.Multiply(w, px, tokens, py, isa, pool);
        }
    }

    static void Multiply(PackedMatrix w, float[] x, int tokens, float[] y, KernelIsa isa, KernelPool pool, bool tiled)
    {
        if (tiled) Gemm.Multiply(w, x, tokens, y, isa, pool);
        else MatMul.Multiply(w, x, tokens, y, isa, pool);
    }
}
