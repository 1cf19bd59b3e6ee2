using LlavaModal.Core.Attention;
using LlavaModal.Core.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Benchmarks;

/// <summary>
/// <c>prefill-attention</c>: a prompt's causal self-attention per layer (T queries over T keys, nothing cached): the
/// eager kernel and <c>sdpa</c> with the additive mask the decoder builds, libtorch's <c>is_causal</c> path with no mask,
/// and the C# blockwise kernel (<see cref="PromptAttention"/>) that inference now takes where it applies.
/// </summary>
static class PrefillAttentionBenchmark
{
    public static int Run(BenchArgs args)
    {
        var lengths = args.Ints("--lengths", "134,512,2048");
        int reps = args.Int("--reps", 10, min: 1);
        int threads = args.Int("--threads", 0);
        args.RejectUnknown();
        if (threads > 0)
        {
            set_num_threads(threads);
            LlavaModal.Core.Kernels.KernelPool.UseThreads(threads);
        }
        (string Name, int Heads, int KvHeads)[] shapes = [("70m (8 heads)", 8, 8), ("1b (32 heads over 4)", 32, 4), ("0.5B (14 heads over 2)", 14, 2)];
        var eager = new EagerAttention();
        var sdpa = new SdpaAttention();
        var rows = new List<IReadOnlyList<string>>();
        using var noGrad = no_grad();
        foreach (var (name, heads, kvHeads) in shapes)
            foreach (int t in lengths)
            {
                using var scope = NewDisposeScope();
                const int d = 64;
                var q = randn([1, heads, t, d]);
                var k = randn([1, kvHeads, t, d]);
                var v = randn([1, kvHeads, t, d]);
                var mask = AttentionMask.Build(null, 1, 0, t, null, ScalarType.Float32, CPU);
                double scale = 1 / Math.Sqrt(d);
                double eagerMs = KernelBenchmark.Time(reps, () => eager.Attend(q, k, v, mask, scale).Dispose());
                double sdpaMs = KernelBenchmark.Time(reps, () => sdpa.Attend(q, k, v, mask, scale).Dispose());
                double causalMs = KernelBenchmark.Time(reps, () =>
                {
                    using var inner = NewDisposeScope();
                    var kr = k.repeat_interleave(heads / kvHeads, 1);
                    var vr = v.repeat_interleave(heads / kvHeads, 1);
                    nn.functional.scaled_dot_product_attention(q, kr, vr, null, 0, true);
                });
                double oursMs = KernelBenchmark.Time(reps, () => PromptAttention.TryAttendCausal(q, k, v, scale, LlavaModal.Core.Kernels.KernelPool.Shared)?.Dispose());
                rows.Add([name, t.ToString(), Report.F(eagerMs, 2), Report.F(sdpaMs, 2), Report.F(causalMs, 2), Report.F(oursMs, 2), Report.F(causalMs / oursMs, 2)]);
            }
        Console.WriteLine($"prefill attention: T queries over T keys, f32, per layer, median of {reps}; {Report.Machine()}");
        Report.Table(["shape", "T", "eager ms", "sdpa + mask ms", "sdpa is_causal ms", "C# ms", "is_causal / C#"], rows);
        return 0;
    }
}
