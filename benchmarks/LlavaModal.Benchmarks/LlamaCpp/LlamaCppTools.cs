using System.Globalization;
using System.Text.Json;

namespace LlavaModal.Benchmarks.LlamaCpp;

/// <summary>One llama.cpp measurement of a GGUF file: prompt and decode speeds, and the peak RSS of its processes.</summary>
sealed record LlamaCppResult(double PrefillTokensPerSecond, double DecodeTokensPerSecond, double DecodeAtDepthTokensPerSecond, long PeakRssBytes);

/// <summary>
/// Drives llama.cpp's command-line tools, built separately (see benchmarks/README.md): <c>llama-quantize</c> for
/// q8_0/q4_0, <c>llama-bench</c> for prompt processing and decode at depth 0, and decode at a depth through
/// <c>llama-bench -d</c> where the build has it, otherwise <c>llama-batched-bench</c> (one sequence).
/// </summary>
sealed class LlamaCppTools
{
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(30);

    readonly string bench;
    readonly string quantize;
    readonly string? batchedBench;
    readonly bool benchHasDepth;

    public LlamaCppTools(string llamaBench, string? llamaQuantize, string? llamaBatchedBench)
    {
        bench = Existing(llamaBench, "--llama-bench");
        var folder = Path.GetDirectoryName(Path.GetFullPath(bench))!;
        quantize = Existing(llamaQuantize ?? Path.Combine(folder, "llama-quantize"), "--llama-quantize");
        // Older llama-bench builds have no --n-depth; llama-batched-bench measures decode after a prompt instead.
        var help = MeasuredProcess.Run(bench, ["--help"], TimeSpan.FromMinutes(1), allowFailure: true).StandardOutput;
        benchHasDepth = help.Contains("--n-depth", StringComparison.Ordinal);
        if (!benchHasDepth) batchedBench = Existing(llamaBatchedBench ?? Path.Combine(folder, "llama-batched-bench"), "--llama-batched-bench");
    }

    /// <summary>The build number and commit llama-bench reported (known after the first <see cref="Measure"/>).</summary>
    public string Version { get; private set; } = "unknown";

    /// <summary>How decode at a depth is measured (for the report).</summary>
    public string DepthMethod => benchHasDepth ? "llama-bench -d" : "llama-batched-bench -npl 1";

    /// <summary>Makes <paramref name="output"/> from <paramref name="input"/> unless it exists (through a temporary sibling).</summary>
    public void Quantize(string input, string output, string type, int threads)
    {
        if (File.Exists(output)) return;
        var partial = output + ".partial-" + Environment.ProcessId;
        Console.Error.WriteLine($"llama-quantize {Path.GetFileName(input)} -> {Path.GetFileName(output)} ...");
        MeasuredProcess.Run(quantize, [input, partial, type, threads.ToString(CultureInfo.InvariantCulture)], Timeout);
        File.Move(partial, output);
    }

    /// <summary>Prompt processing of <paramref name="prompt"/> tokens, decode of <paramref name="newTokens"/> at depth 0 and after <paramref name="depth"/> tokens; medians over <paramref name="reps"/>.</summary>
    public LlamaCppResult Measure(string gguf, int threads, int prompt, int depth, int newTokens, int reps)
    {
        string t = threads.ToString(CultureInfo.InvariantCulture), r = reps.ToString(CultureInfo.InvariantCulture);
        var main = MeasuredProcess.Run(bench, ["-m", gguf, "-t", t, "-p", Str(prompt), "-n", Str(newTokens), "-r", r, "-o", "json"], Timeout);
        var tests = JsonDocument.Parse(main.StandardOutput).RootElement.EnumerateArray().ToList();
        if (tests.Count > 0 && tests[0].TryGetProperty("build_commit", out var commit))
            Version = $"build {(tests[0].TryGetProperty("build_number", out var n) ? n.ToString() : "?")} ({commit.GetString()})";
        double pp = MedianSamples(tests.Single(e => e.GetProperty("n_prompt").GetInt32() == prompt && e.GetProperty("n_gen").GetInt32() == 0));
        double tg = MedianSamples(tests.Single(e => e.GetProperty("n_prompt").GetInt32() == 0 && e.GetProperty("n_gen").GetInt32() == newTokens));
        double tgDepth;
        long peak = main.PeakRssBytes;
        if (benchHasDepth)
        {
            var deep = MeasuredProcess.Run(bench, ["-m", gguf, "-t", t, "-p", "0", "-n", Str(newTokens), "-d", Str(depth), "-r", r, "-o", "json"], Timeout);
            tgDepth = MedianSamples(JsonDocument.Parse(deep.StandardOutput).RootElement.EnumerateArray().Single());
            peak = Math.Max(peak, deep.PeakRssBytes);
        }
        else
        {
            // One sequence, the prompt repeated reps times: each is a fresh prompt of `depth` tokens followed by `newTokens` decode steps.
            var npp = string.Join(',', Enumerable.Repeat(Str(depth), reps));
            var deep = MeasuredProcess.Run(batchedBench!, ["-m", gguf, "-t", t, "-c", Str(depth + newTokens + 16), "-npp", npp, "-ntg", Str(newTokens), "-npl", "1", "--output-format", "jsonl"], Timeout);
            var speeds = deep.StandardOutput.Split('\n').Where(l => l.StartsWith('{') && l.Contains("\"speed_tg\"", StringComparison.Ordinal))
                .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("speed_tg").GetDouble()).ToList();
            if (speeds.Count == 0) throw new InvalidOperationException($"llama-batched-bench printed no result:\n{deep.StandardOutput}");
            tgDepth = Report.Median(speeds);
            peak = Math.Max(peak, deep.PeakRssBytes);
        }
        return new LlamaCppResult(pp, tg, tgDepth, peak);
    }

    static double MedianSamples(JsonElement test) =>
        test.TryGetProperty("samples_ts", out var samples) ? Report.Median(samples.EnumerateArray().Select(s => s.GetDouble())) : test.GetProperty("avg_ts").GetDouble();

    static string Str(int value) => value.ToString(CultureInfo.InvariantCulture);

    static string Existing(string path, string option) =>
        File.Exists(path) ? Path.GetFullPath(path) : throw new ArgumentException($"{option}: '{path}' does not exist (build llama.cpp first: benchmarks/README.md, `llamacpp`).");
}
