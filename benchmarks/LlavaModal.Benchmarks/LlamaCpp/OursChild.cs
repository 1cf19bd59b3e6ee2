using System.Text.Json;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Core.Kernels;
using LlavaModal.Decoder.Generation;
using static TorchSharp.torch;

namespace LlavaModal.Benchmarks.LlamaCpp;

/// <summary>Our side of one comparison: the speeds <c>llama-bench</c> reports, measured through our generation loop.</summary>
sealed record OursResult(double PrefillTokensPerSecond, double DecodeTokensPerSecond, double DecodeAtDepthTokensPerSecond, long WeightBytesPerToken);

/// <summary>
/// Hidden mode <c>llamacpp-child DIR --format F ...</c>: our <c>decode</c> measurement of one weight format in a fresh
/// process (so the parent reads this process's peak RSS the same way as llama.cpp's), printed as one JSON line.
/// Prefill is the prompt of <c>--prompt</c> tokens; decode at depth 0 follows a one-token prompt, decode at depth
/// follows the long prompt.
/// </summary>
static class OursChild
{
    public const string Mode = "llamacpp-child";

    public static int Run(BenchArgs args)
    {
        var format = WeightFormats.Parse(args.String("--format", "f32")) ?? throw new ArgumentException("--format: not a weight format.");
        var kv = args.String("--kv-cache", "model");
        var kvCache = kv == "model" ? (ScalarType?)null : DTypes.TryParse(kv) ?? throw new ArgumentException($"--kv-cache: '{kv}' is not a dtype.");
        int prompt = args.Int("--prompt", 511, min: 1);
        int newTokens = args.Int("--new-tokens", 33, min: 33);
        int reps = args.Int("--reps", 3, min: 1);
        int threads = args.Int("--threads", 2, min: 1);
        int prefillChunk = args.Int("--prefill-chunk", GenerationEngine.DefaultPrefillChunkTokens, min: 1);
        args.RejectUnknown();
        if (args.Positional.Count != 1) throw new ArgumentException($"{Mode} needs exactly one checkpoint folder.");
        set_num_threads(threads);
        KernelPool.UseThreads(threads);
        // Warm-up (llama-bench warms up too): three runs, and more until the runtime's background recompilation is done (ProcessAge).
        // The long prompt first: its prefill and decode let the runtime optimise the step's methods before the depth-0
        // runs, whose 33-token runs alone measured slower than depth 511 (still partly unoptimised code).
        var rows = DecodeBenchmark.Measure(format.Name(), args.Positional[0], format, kvCache, [prompt, 1], newTokens, warmup: 3, reps, prefillChunk, warmupProcessSeconds: ProcessAge.WarmupSeconds).ToList();
        var shallow = rows.Single(r => r.PromptTokens == 1);
        var deep = rows.Single(r => r.PromptTokens == prompt);
        Console.WriteLine(JsonSerializer.Serialize(new OursResult(
            prompt / (deep.PrefillMsMedian / 1000), shallow.DecodeTokensPerSecondMedian, deep.DecodeTokensPerSecondMedian, deep.WeightBytesPerToken)));
        return 0;
    }
}
