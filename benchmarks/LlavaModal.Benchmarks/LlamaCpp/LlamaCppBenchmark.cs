using System.Globalization;
using LlavaModal.Benchmarks.Gguf;
using LlavaModal.Core.Kernels;
using LlavaModal.Decoder.Generation;

namespace LlavaModal.Benchmarks.LlamaCpp;

/// <summary>
/// <c>llamacpp</c>: our decode engine against llama.cpp on the same weights, per weight format (f32 / f32, bf16 / f16,
/// int8 / q8_0, int4 / q4_0), in one sitting: for each round, model and format, our child process then llama.cpp's
/// tools, alternating so that load on a shared machine falls on both. Prints ratios ours / llama.cpp and decode as a
/// share of the read-bandwidth limit probed in each round.
/// </summary>
static class LlamaCppBenchmark
{
    /// <summary>Our formats and the llama.cpp type each is compared with (16-bit: our bf16 against llama.cpp's f16).</summary>
    internal static readonly Dictionary<string, (WeightFormat Ours, string Theirs)> Pairs = new(StringComparer.Ordinal)
    {
        ["f32"] = (WeightFormat.F32, "f32"),
        ["bf16"] = (WeightFormat.BF16, "f16"),
        ["f16"] = (WeightFormat.F16, "f16"),
        ["int8"] = (WeightFormat.Int8, "q8_0"),
        ["int4"] = (WeightFormat.Int4, "q4_0"),
    };

    public static int Run(BenchArgs args)
    {
        var tools = new LlamaCppTools(
            args.String("--llama-bench", "") is { Length: > 0 } b ? b : throw new ArgumentException("--llama-bench PATH is required (llama.cpp's llama-bench, built as benchmarks/README.md says)."),
            args.String("--llama-quantize", "") is { Length: > 0 } q ? q : null,
            args.String("--llama-batched-bench", "") is { Length: > 0 } bb ? bb : null);
        var models = args.String("--models", "70m,1b").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var formats = args.String("--formats", "f32,bf16,int8,int4").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var f in formats)
            if (!Pairs.ContainsKey(f)) throw new ArgumentException($"--formats: '{f}' is not one of {string.Join(", ", Pairs.Keys)}.");
        int prompt = args.Int("--prompt", 511, min: 1);
        int newTokens = args.Int("--new-tokens", 33, min: 33);
        int reps = args.Int("--reps", 3, min: 1);
        int rounds = args.Int("--rounds", 2, min: 1);
        var threadCounts = args.Ints("--threads", "2");
        int threads = threadCounts.Max();
        var cache = args.String("--cache", Report.DefaultCache());
        // llama.cpp keeps keys and values in f16 whatever the weights; ours follow the model's dtype unless asked.
        var kvCache = args.String("--kv-cache", "model");
        if (kvCache is not ("model" or "f16" or "bf16" or "f32")) throw new ArgumentException($"--kv-cache: '{kvCache}' is neither model nor f32, f16, bf16.");
        int prefillChunk = args.Int("--prefill-chunk", GenerationEngine.DefaultPrefillChunkTokens, min: 1);
        bool json = args.Flag("--json");
        args.RejectUnknown();
        KernelPool.UseThreads(threads);

        // Checkpoints and GGUF files first (cached across runs), so the sitting itself only measures.
        var prepared = models.Select(m => Prepare(m, cache, formats, tools, threads)).ToList();

        var samples = new List<Sample>();
        var probes = new List<double>();
        var loads = new List<string> { File.ReadAllText("/proc/loadavg").Trim() };
        for (int round = 0; round < rounds; round++)
        {
            double probe = KernelBenchmark.Bandwidth(KernelPool.Shared, 5);
            probes.Add(probe);
            Console.Error.WriteLine($"round {round + 1}/{rounds}: read-bandwidth probe {Report.F(probe, 1)} GB/s, load average {File.ReadAllText("/proc/loadavg").Trim()}");
            foreach (var model in prepared)
                foreach (var t in threadCounts)
                foreach (var format in formats)
                {
                    var gguf = model.Ggufs[Pairs[format].Theirs];
                    var oursRun = RunOurs(model.Folder, format, kvCache, prefillChunk, prompt, newTokens, reps, t);
                    var theirs = tools.Measure(gguf, t, prompt, prompt, newTokens, reps);
                    var sample = new Sample(round, model.Name, t, format, Pairs[format].Theirs, oursRun.Result, oursRun.PeakRss, theirs, TheirWeightBytesPerToken(gguf), probe);
                    samples.Add(sample);
                    Console.Error.WriteLine($"  {model.Name} {format} -t {t}: ours pp {Report.F(sample.Ours.PrefillTokensPerSecond)} tg {Report.F(sample.Ours.DecodeTokensPerSecond)} "
                        + $"tg@{prompt} {Report.F(sample.Ours.DecodeAtDepthTokensPerSecond)} rss {Report.MiB(sample.OursPeakRss)} | llama.cpp {Pairs[format].Theirs} pp "
                        + $"{Report.F(theirs.PrefillTokensPerSecond)} tg {Report.F(theirs.DecodeTokensPerSecond)} tg@{prompt} {Report.F(theirs.DecodeAtDepthTokensPerSecond)} rss {Report.MiB(theirs.PeakRssBytes)}");
                }
            loads.Add(File.ReadAllText("/proc/loadavg").Trim());
        }

        var rows = samples.GroupBy(s => (s.Model, s.Threads, s.Format)).Select(g => Row.Of(g.ToList())).ToList();
        if (json)
        {
            Console.WriteLine(Report.ToJson(new { benchmark = "llamacpp", machine = Report.Machine(), llama_cpp = tools.Version, depth_method = tools.DepthMethod,
                prompt, new_tokens = newTokens, reps, rounds, kv_cache = kvCache, threads = threadCounts, probes_gb_per_s = probes, load_averages = loads, rows, samples }));
            return 0;
        }
        Console.WriteLine($"llamacpp: ours / llama.cpp ({tools.Version}), threads {string.Join(",", threadCounts)}, prompt {prompt}, {newTokens} new tokens, decode at depth 0 and {prompt} "
            + $"(llama.cpp: {tools.DepthMethod}); KV cache: ours {(kvCache == "model" ? "the model's dtype (f32)" : kvCache)}, llama.cpp f16 (its default); "
            + $"median of {reps} runs per process, median over {rounds} alternating rounds; {Report.Machine()}");
        Console.WriteLine($"load averages (1/5/15 min) at start and after each round: {string.Join("; ", loads.Select(l => string.Join(' ', l.Split(' ').Take(3))))}; "
            + $"read-bandwidth probe ({threads} threads) per round: {string.Join(", ", probes.Select(p => Report.F(p, 1)))} GB/s");
        Console.WriteLine("tok/s: ours / llama.cpp = ratio; of limit: weight bytes read per token x decode tok/s (depth 0) / the round's probe; RSS: peak VmHWM of the processes.");
        Report.Table(
            ["model", "threads", "ours / llama.cpp", "prefill tok/s", "decode tok/s @0", $"decode tok/s @{prompt}", "peak RSS MiB", "MB/tok", "of limit @0"],
            rows.Select(r => (IReadOnlyList<string>)[
                r.Model, r.Threads.ToString(CultureInfo.InvariantCulture), $"{r.Format} / {r.Theirs}",
                Cell(r.OursPrefill, r.TheirPrefill), Cell(r.OursDecode, r.TheirDecode), Cell(r.OursDecodeDeep, r.TheirDecodeDeep),
                $"{Report.F(r.OursRssMiB, 0)} / {Report.F(r.TheirRssMiB, 0)} = {Report.F(r.OursRssMiB / r.TheirRssMiB, 2)}",
                $"{Report.F(r.OursBytes / 1e6, 0)} / {Report.F(r.TheirBytes / 1e6, 0)}",
                $"{Report.F(r.OursOfLimit * 100, 0)}% / {Report.F(r.TheirOfLimit * 100, 0)}%",
            ]));
        return 0;
    }

    static string Cell(double ours, double theirs) => $"{Report.F(ours)} / {Report.F(theirs)} = {Report.F(ours / theirs, 2)}";

    internal sealed record Prepared(string Name, string Folder, Dictionary<string, string> Ggufs);

    /// <summary>The checkpoint of a <c>--models</c> entry and its GGUF files per llama.cpp type, written or quantized once into the cache.</summary>
    internal static Prepared Prepare(string name, string cache, IEnumerable<string> formats, LlamaCppTools tools, int threads)
    {
        var folder = DecodeBenchmark.ModelFolder(name, cache);
        var ggufDir = Path.Combine(cache, "gguf");
        Directory.CreateDirectory(ggufDir);
        var stem = Path.Combine(ggufDir, Path.GetFileName(Path.GetFullPath(folder)));
        var ggufs = new Dictionary<string, string>(StringComparer.Ordinal);
        string Exported(GgmlType type)
        {
            var path = $"{stem}-{type.ToString().ToLowerInvariant()}.gguf";
            if (!File.Exists(path))
            {
                Console.Error.WriteLine($"writing {path} ...");
                LlamaGgufExport.Write(folder, path, type);
            }
            return path;
        }
        foreach (var theirs in formats.Select(f => Pairs[f].Theirs).Distinct())
        {
            ggufs[theirs] = theirs switch
            {
                "f32" => Exported(GgmlType.F32),
                "f16" => Exported(GgmlType.F16),
                _ => Quantized(Exported(GgmlType.F32), $"{stem}-{theirs}.gguf", theirs),
            };
        }
        return new Prepared(name, folder, ggufs);

        string Quantized(string from, string to, string type)
        {
            tools.Quantize(from, to, type, threads);
            return to;
        }
    }

    static (OursResult Result, long PeakRss) RunOurs(string folder, string format, string kvCache, int prefillChunk, int prompt, int newTokens, int reps, int threads)
    {
        string S(int v) => v.ToString(CultureInfo.InvariantCulture);
        return MeasuredProcess.RunChild<OursResult>(OursChild.Mode, [folder, "--format", format, "--kv-cache", kvCache, "--prefill-chunk", S(prefillChunk), "--prompt", S(prompt),
            "--new-tokens", S(newTokens), "--reps", S(reps), "--threads", S(threads)], TimeSpan.FromMinutes(30));
    }

    /// <summary>Bytes a llama.cpp decode step reads: every tensor but the embedding table (one row), unless it is also the output.</summary>
    static long TheirWeightBytesPerToken(string gguf)
    {
        var tensors = GgufReader.Open(gguf).Tensors;
        bool tied = tensors.All(t => t.Name != "output.weight");
        return tensors.Where(t => tied || t.Name != "token_embd.weight").Sum(t => t.Bytes);
    }

    sealed record Sample(int Round, string Model, int Threads, string Format, string Theirs, OursResult Ours, long OursPeakRss, LlamaCppResult Their, long TheirBytes, double ProbeGBs);

    sealed record Row(string Model, int Threads, string Format, string Theirs,
        double OursPrefill, double TheirPrefill, double OursDecode, double TheirDecode, double OursDecodeDeep, double TheirDecodeDeep,
        double OursRssMiB, double TheirRssMiB, long OursBytes, long TheirBytes, double OursOfLimit, double TheirOfLimit)
    {
        public static Row Of(List<Sample> s)
        {
            double M(Func<Sample, double> f) => Report.Median(s.Select(f));
            const double MiB = 1024.0 * 1024.0;
            return new Row(s[0].Model, s[0].Threads, s[0].Format, s[0].Theirs,
                M(x => x.Ours.PrefillTokensPerSecond), M(x => x.Their.PrefillTokensPerSecond),
                M(x => x.Ours.DecodeTokensPerSecond), M(x => x.Their.DecodeTokensPerSecond),
                M(x => x.Ours.DecodeAtDepthTokensPerSecond), M(x => x.Their.DecodeAtDepthTokensPerSecond),
                s.Max(x => x.OursPeakRss) / MiB, s.Max(x => x.Their.PeakRssBytes) / MiB,
                s[0].Ours.WeightBytesPerToken, s[0].TheirBytes,
                M(x => x.Ours.WeightBytesPerToken * x.Ours.DecodeTokensPerSecond / (x.ProbeGBs * 1e9)),
                M(x => x.TheirBytes * x.Their.DecodeTokensPerSecond / (x.ProbeGBs * 1e9)));
        }
    }
}
