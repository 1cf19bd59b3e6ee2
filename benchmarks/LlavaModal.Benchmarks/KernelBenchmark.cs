using System.Diagnostics;
using System.Numerics;
using LlavaModal.Core.Kernels;
using LlavaModal.Core.Native;
using static TorchSharp.torch;

namespace LlavaModal.Benchmarks;

/// <summary>
/// The weight-format kernels on the matrices of a 1.1B LLaMA (TinyLlama shape: hidden 2048, 256-wide keys and values,
/// MLP 5632), several layers so the weights come from memory, not cache: GB/s of weights read per product for 1 and 4
/// tokens, against libtorch's own f32 and bf16 matrix-vector products and a read-bandwidth probe in the same process.
/// </summary>
static class KernelBenchmark
{
    sealed unsafe class SumChunks(float* data, int chunk, double[] partial) : IRangeWork
    {
        // Optimised from the first call: tiered compilation first runs it unoptimised, below the memory's rate.
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        public void Run(int start, int end)
        {
            // Read as the one-row decode kernels read weights: four vectors a step into four sums, the lines Prefetch.Ahead
            // further on asked for. Chunks are whole steps (powers of two).
            int step = 4 * Vector<float>.Count;
            for (int c = start; c < end; c++)
            {
                float* p = data + (long)c * chunk, stop = p + chunk;
                Vector<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (; p < stop; p += step)
                {
                    Prefetch.Lines((byte*)p + Prefetch.Ahead, step * sizeof(float));
                    a0 += Vector.Load(p);
                    a1 += Vector.Load(p + Vector<float>.Count);
                    a2 += Vector.Load(p + 2 * Vector<float>.Count);
                    a3 += Vector.Load(p + 3 * Vector<float>.Count);
                }
                partial[c] = Vector.Sum((a0 + a1) + (a2 + a3));
            }
        }
    }

    public static int Run(BenchArgs args)
    {
        int layers = args.Int("--layers", 4, min: 1);
        int reps = args.Int("--reps", 10, min: 1);
        int threads = args.Int("--threads", Environment.ProcessorCount, min: 1);
        var formats = args.String("--formats", "f32,bf16,f16,int8,int4").Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(f => WeightFormats.Parse(f) ?? throw new ArgumentException($"--formats: '{f}' is not a weight format.")).ToList();
        var shape = args.String("--shape", "1b");
        args.RejectUnknown();
        set_num_threads(threads);
        using var pool = new KernelPool(threads);
        // 70m: the 69.5M LLaVA's decoder (512 wide, MLP 1376) and its 32000-row head once, where short rows make each row's overhead count.
        (int Out, int In)[] layer = shape switch
        {
            "1b" => [(2048, 2048), (256, 2048), (256, 2048), (2048, 2048), (5632, 2048), (5632, 2048), (2048, 5632)],
            "70m" => [(512, 512), (512, 512), (512, 512), (512, 512), (1376, 512), (1376, 512), (512, 1376)],
            _ => throw new ArgumentException($"--shape: '{shape}' is neither 1b nor 70m."),
        };
        var shapes = Enumerable.Range(0, layers).SelectMany(_ => layer).Concat(shape == "70m" ? [(32000, 512)] : []).ToArray();
        int widest = shapes.Max(s => Math.Max(s.Out, s.In));
        Console.WriteLine($"kernels: {layers} layers of the {shape} shape ({shapes.Sum(s => (long)s.Out * s.In) / 1e6:F0}M weights), {threads} threads, median of {reps}; {Report.Machine()}");

        double probe = Bandwidth(pool, reps);
        Console.WriteLine($"read-bandwidth probe (sum of 1 GiB, {threads} threads): {Report.F(probe)} GB/s");
        var rows = new List<IReadOnlyList<string>>();
        var random = new Random(1);
        foreach (var format in formats)
        {
            var matrices = new List<PackedMatrix>();
            foreach (var (o, i) in shapes)
            {
                var values = new float[o * i];
                for (int k = 0; k < values.Length; k++) values[k] = (float)(random.NextDouble() - 0.5);
                matrices.Add(PackedMatrix.Pack(format, o, i, values));
            }
            long bytes = matrices.Sum(m => m.ByteCount);
            foreach (int tokens in new[] { 1, 4 })
            {
                var x = new float[tokens * widest];
                var y = new float[tokens * widest];
                double ms = Time(reps, () =>
                {
                    foreach (var m in matrices) MatMul.Multiply(m, x.AsSpan(0, tokens * m.Columns), tokens, y.AsSpan(0, tokens * m.Rows), pool: pool);
                });
                rows.Add([$"ours {format.Name()}", tokens.ToString(), Report.F(bytes / 1e6, 0), Report.F(ms, 2), Report.F(bytes / ms / 1e6), Report.F(bytes / ms / 1e6 / probe * 100, 0) + "%"]);
            }
            foreach (var m in matrices) m.Dispose();
        }
        foreach (var type in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            using var scope = NewDisposeScope();
            var weights = shapes.Select(s => (rand(s.Out, s.In) - 0.5).to(type)).ToList();
            long bytes = weights.Sum(w => w.numel() * w.element_size());
            var inputs = weights.Select(w => rand(1, w.shape[1]).to(type)).ToList();
            double ms = Time(reps, () =>
            {
                using var inner = NewDisposeScope();
                for (int k = 0; k < weights.Count; k++) inputs[k].matmul(weights[k].t());
            });
            rows.Add([$"libtorch {(type == ScalarType.Float32 ? "f32" : "bf16")}", "1", Report.F(bytes / 1e6, 0), Report.F(ms, 2), Report.F(bytes / ms / 1e6), Report.F(bytes / ms / 1e6 / probe * 100, 0) + "%"]);
        }
        Report.Table(["kernel", "tokens", "weights MB", "ms per pass", "GB/s", "of probe"], rows);
        return 0;
    }

    /// <summary>
    /// Read bandwidth in GB/s: a sum over 1 GiB split among the pool's threads (median of <paramref name="reps"/>). The
    /// buffer is mapped as the packed weights are (<see cref="HugePages.Allocate"/>, 2 MiB pages): on 4 KiB pages this
    /// VM's page walks, not the memory, set the rate, and the probe read below what decode itself reached.
    /// </summary>
    internal static unsafe double Bandwidth(KernelPool pool, int reps)
    {
        const long length = 1L << 28;
        const int chunk = 1 << 20;
        nuint bytes = (nuint)(length * sizeof(float));
        var data = (float*)HugePages.Allocate(bytes);
        try
        {
            new Span<float>(data, (int)length).Fill(1f);
            var partial = new double[length / chunk];
            var work = new SumChunks(data, chunk, partial);
            double ms = Time(reps, () => pool.For(partial.Length, 1, work));
            return length * 4.0 / ms / 1e6;
        }
        finally
        {
            HugePages.Free(data, bytes);
        }
    }

    /// <summary>Median milliseconds of <paramref name="reps"/> runs after one warm-up run.</summary>
    internal static double Time(int reps, Action action)
    {
        action();
        var times = new List<double>();
        for (int r = 0; r < reps; r++)
        {
            var clock = Stopwatch.StartNew();
            action();
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        return Report.Median(times);
    }
}
