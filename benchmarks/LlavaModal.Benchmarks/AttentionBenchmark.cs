using System.Diagnostics;
using LlavaModal.Core.Attention;
using LlavaModal.Core.Kernels;
using static TorchSharp.torch;

namespace LlavaModal.Benchmarks;

/// <summary>
/// <c>attention</c>: one decode step's attention over a cache view (one query position per row), per layer, for the
/// decoders measured in <c>decode</c>: libtorch's eager path against <c>scaled_dot_product_attention</c> (both with
/// query heads folded per key/value head, as the decoder calls them). Decode steps take the faster one.
/// </summary>
static class AttentionBenchmark
{
    public static int Run(BenchArgs args)
    {
        var depths = args.Ints("--depths", "16,512,2048");
        int reps = args.Int("--reps", 200, min: 1);
        int threads = args.Int("--threads", 0);
        bool json = args.Flag("--json");
        args.RejectUnknown();
        if (threads > 0)
        {
            set_num_threads(threads);
            KernelPool.UseThreads(threads);
        }
        (string Name, int Heads, int KvHeads)[] shapes = [("70m (8 heads)", 8, 8), ("1b (32 heads over 4)", 32, 4)];
        var eager = new EagerAttention();
        var sdpa = new SdpaAttention();
        var rows = new List<IReadOnlyList<string>>();
        var results = new List<object>();
        using var noGrad = no_grad();
        foreach (var (name, heads, kvHeads) in shapes)
        {
            foreach (int depth in depths)
            {
                using var scope = NewDisposeScope();
                const int d = 64;
                var q = randn([1, 1, heads, d]).transpose(1, 2);
                var cache = randn([1, kvHeads, depth + 256, d]);
                var k = cache.narrow(2, 0, depth);
                var v = randn([1, kvHeads, depth + 256, d]).narrow(2, 0, depth);
                double scale = 1 / Math.Sqrt(d);
                double eagerUs = Time(reps, () => eager.Attend(q, k, v, null, scale).Dispose());
                double sdpaUs = Time(reps, () => sdpa.Attend(q, k, v, null, scale).Dispose());
                double mb = 2.0 * kvHeads * depth * d * sizeof(float) / 1e6;
                rows.Add([name, depth.ToString(), Report.F(mb, 2), Report.F(eagerUs, 1), Report.F(sdpaUs, 1), Report.F(eagerUs / sdpaUs, 2)]);
                results.Add(new { shape = name, depth, cache_mb = mb, eager_us = eagerUs, sdpa_us = sdpaUs });
            }
        }
        if (json)
        {
            Console.WriteLine(Report.ToJson(new { benchmark = "attention", machine = Report.Machine(), reps, results }));
            return 0;
        }
        Console.WriteLine($"attention: one query position over an f32 cache view, per layer, median of {reps}; {Report.Machine()}");
        Report.Table(["shape", "depth", "K+V MB", "eager µs", "sdpa µs", "eager / sdpa"], rows);
        return 0;
    }

    static double Time(int reps, Action action)
    {
        for (int i = 0; i < Math.Min(reps, 10); i++) action();
        var times = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            times[r] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }
        return Report.Median(times);
    }
}
