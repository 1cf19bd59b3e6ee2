using System.Diagnostics;
using LlavaModal.Core.Attention;
using LlavaModal.Core.Kernels;
using static TorchSharp.torch;

namespace LlavaModal.Benchmarks;

/// <summary>
/// <c>attention</c>: one decode step's attention over a cache view (one query position per row), per layer, for the
/// decoders measured in <c>decode</c>: libtorch's eager path against <c>scaled_dot_product_attention</c> (both with
/// query heads folded per key/value head, as the decoder calls them) and the C# decode kernel (<see cref="DecodeAttention"/>,
/// over the f32 cache and 16-bit copies of it). Decode steps take the fastest.
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
        // Qwen2-1.5B's two key/value heads of 128 (one row: two items unless a row is split into parts), and one key/value
        // head (multi-query attention: one item).
        (string Name, int Heads, int KvHeads, int HeadDim)[] shapes =
            [("70m (8 heads)", 8, 8, 64), ("1b (32 heads over 4)", 32, 4, 64), ("qwen2-1.5b (12 over 2, d 128)", 12, 2, 128), ("mqa (8 over 1)", 8, 1, 64)];
        var eager = new EagerAttention();
        var sdpa = new SdpaAttention();
        var rows = new List<IReadOnlyList<string>>();
        var results = new List<object>();
        using var noGrad = no_grad();
        foreach (var (name, heads, kvHeads, d) in shapes)
        {
            foreach (int depth in depths)
            {
                using var scope = NewDisposeScope();
                var q = randn([1, 1, heads, d]).transpose(1, 2);
                var cache = randn([1, kvHeads, depth + 256, d]);
                var k = cache.narrow(2, 0, depth);
                var v = randn([1, kvHeads, depth + 256, d]).narrow(2, 0, depth);
                double scale = 1 / Math.Sqrt(d);
                using var k16 = k.to(ScalarType.Float16);
                using var v16 = v.to(ScalarType.Float16);
                using var kb16 = k.to(ScalarType.BFloat16);
                using var vb16 = v.to(ScalarType.BFloat16);
                double eagerUs = Time(reps, () => eager.Attend(q, k, v, null, scale).Dispose());
                double sdpaUs = Time(reps, () => sdpa.Attend(q, k, v, null, scale).Dispose());
                double oursUs = Time(reps, () => DecodeAttention.TryAttend(q, k, v, null, scale, KernelPool.Shared)!.Dispose());
                double f16Us = Time(reps, () => DecodeAttention.TryAttend(q, k16, v16, null, scale, KernelPool.Shared)!.Dispose());
                double bf16Us = Time(reps, () => DecodeAttention.TryAttend(q, kb16, vb16, null, scale, KernelPool.Shared)!.Dispose());
                double mb = 2.0 * kvHeads * depth * d * sizeof(float) / 1e6;
                rows.Add([name, depth.ToString(), Report.F(mb, 2), Report.F(eagerUs, 1), Report.F(sdpaUs, 1), Report.F(oursUs, 1), Report.F(f16Us, 1), Report.F(bf16Us, 1), Report.F(sdpaUs / oursUs, 2)]);
                results.Add(new { shape = name, depth, cache_mb = mb, eager_us = eagerUs, sdpa_us = sdpaUs, decode_kernel_us = oursUs, decode_kernel_f16_cache_us = f16Us, decode_kernel_bf16_cache_us = bf16Us });
            }
        }
        if (json)
        {
            Console.WriteLine(Report.ToJson(new { benchmark = "attention", machine = Report.Machine(), reps, results }));
            return 0;
        }
        Console.WriteLine($"attention: one query position over a cache view, per layer, median of {reps}; {Report.Machine()}");
        Console.WriteLine("C# = the decode kernel (DecodeAttention) over the f32 cache; f16 / bf16 = the same over a 16-bit copy of it (K+V MB halves).");
        Report.Table(["shape", "depth", "K+V MB (f32)", "eager µs", "sdpa µs", "C# µs", "C# f16 µs", "C# bf16 µs", "sdpa / C#"], rows);
        return 0;
    }

    static double Time(int reps, Action action)
    {
        // Warm up for a while, not a count: tiered JIT promotes hot code (TensorPrimitives' included) only after ~100 ms.
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 10 || warm.ElapsedMilliseconds < 300; i++) action();
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
