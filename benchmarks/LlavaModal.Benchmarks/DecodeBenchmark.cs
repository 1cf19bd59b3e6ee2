using System.Diagnostics;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Core.Attention;
using LlavaModal.Core.Kernels;
using LlavaModal.Decoder.Generation;
using LlavaModal.Decoder.Llama;
using LlavaModal.Multimodal;
using static TorchSharp.torch;

namespace LlavaModal.Benchmarks;

/// <summary>
/// <c>decode</c>: prefill latency and greedy decode speed through the real generation loop
/// (<see cref="GenerationEngine"/>, preallocated KV cache), plus the cost of each decode step so one can see
/// whether a step stays flat as the context grows (it should with a KV cache: a step attends over the cache
/// instead of recomputing the prefix).
/// </summary>
static class DecodeBenchmark
{
    /// <summary>Per-step window compared for flatness (first vs last <see cref="Window"/> decode steps).</summary>
    const int Window = 16;

    public static int Run(BenchArgs args)
    {
        var models = args.String("--models", "tiny,100m").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var weights = args.String("--weights", "torch").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(w => w == "torch" ? (WeightFormat?)null : WeightFormats.Parse(w) ?? throw new ArgumentException($"--weights: '{w}' is neither torch nor a weight format.")).ToList();
        var kvCaches = args.String("--kv-cache", "model").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(c => c == "model" ? (ScalarType?)null : DTypes.TryParse(c) ?? throw new ArgumentException($"--kv-cache: '{c}' is neither model nor f32, bf16, f16.")).ToList();
        var attentions = args.Switches("--decode-attention");
        var steps = args.Switches("--decode-step");
        var promptSteps = args.Switches("--prompt-step");
        var promptLengths = args.Ints("--prompt-lengths", "128,512");
        int newTokens = args.Int("--new-tokens", 64, min: 2 * Window + 1);
        int warmup = args.Int("--warmup", 1);
        int reps = args.Int("--reps", 5, min: 1);
        int rounds = args.Int("--rounds", 1, min: 1);
        int prefillChunk = args.Int("--prefill-chunk", GenerationEngine.DefaultPrefillChunkTokens, min: 1);
        var cache = args.String("--cache", Report.DefaultCache());
        int threads = args.Int("--threads", 0);
        bool json = args.Flag("--json");
        bool probe = !args.Flag("--no-probe");
        args.RejectUnknown();
        if (threads > 0)
        {
            set_num_threads(threads);
            KernelPool.UseThreads(threads);
        }
        // Read bandwidth on the spot, in this process: decode reads every weight once per token, so bytes / probe is its limit.
        double probeGBs = probe ? KernelBenchmark.Bandwidth(KernelPool.Shared, 5) : double.NaN;

        var measured = new List<DecodeRow>();
        // Formats and variants alternate within one sitting, round after round, so their ratios are comparable on a shared machine.
        for (int round = 0; round < rounds; round++)
        foreach (var name in models)
        {
            var dir = ModelFolder(name, cache);
            foreach (var format in weights)
                foreach (var kvCache in kvCaches)
                    foreach (bool attention in attentions)
                    foreach (bool step in steps)
                    foreach (bool promptStep in promptSteps)
                    {
                        // Off: decode steps attend through libtorch (sdpa), as before the C# decode kernel.
                        DecodeAttention.Enabled = attention;
                        // Off: packed decode steps run the layers as modules, as before the C# decode step.
                        LlamaKernelLayers.StepsEnabled = step;
                        // Off: packed prompt pieces run the layers as modules, as before the C# prompt path.
                        LlamaKernelLayers.PromptsEnabled = promptStep;
                        var label = (format is null ? name : $"{name} {format.Value.Name()}") + (kvCache is { } c ? $" kv {c}" : "") + (attention ? "" : " libtorch-attn")
                            + (step ? "" : " module-step") + (promptStep ? "" : " module-prompt");
                        try { measured.AddRange(Measure(label, dir, format, kvCache, promptLengths, newTokens, warmup, reps, prefillChunk)); }
                        finally
                        {
                            DecodeAttention.Enabled = true;
                            LlamaKernelLayers.StepsEnabled = true;
                            LlamaKernelLayers.PromptsEnabled = true;
                        }
                    }
        }
        // Each variant and prompt: the round with the median decode speed.
        var rows = measured.GroupBy(r => (r.Model, r.PromptTokens))
            .Select(g => g.OrderBy(r => r.DecodeTokensPerSecondMedian).ElementAt(g.Count() / 2)).ToList();

        if (json)
        {
            Console.WriteLine(Report.ToJson(new { benchmark = "decode", machine = Report.Machine(), probe_gb_per_s = probeGBs, new_tokens = newTokens, warmup, reps, rows }));
            return 0;
        }
        Console.WriteLine($"decode: greedy, {newTokens} new tokens, {warmup} warm-up + {reps} runs, median (min/max in brackets){(rounds > 1 ? $", the median of {rounds} alternating rounds" : "")}; {Report.Machine()}");
        Console.WriteLine("decode tok/s = (tokens - 1) / decode time (the library's DecodeTokensPerSecond); 1000/median step is the same from the median step, robust to stalls on a shared machine.");
        Console.WriteLine($"tensors/step: TorchSharp tensors created per decode step (median; the whole loop: model, cache, logits processing); "
            + $"weight MB/tok: bytes of weights one token reads; of limit: weight bytes x tok/s (1000/median step) / read-bandwidth probe ({Report.F(probeGBs, 1)} GB/s).");
        Report.Table(
            ["model", "params", "prompt", "prefill ms", "prefill tok/s", "decode tok/s", "1000/median step", $"ms/tok steps 1-{Window}", $"ms/tok steps {newTokens - Window}-{newTokens - 1}", "last/first", "tensors/step", "weight MB/tok", "of limit"],
            rows.Select(r => (IReadOnlyList<string>)[
                r.Model, Report.F(r.Parameters / 1e6, 1) + "M", r.PromptTokens.ToString(),
                $"{Report.F(r.PrefillMsMedian)} ({Report.F(r.PrefillMsMin)})",
                Report.F(r.PromptTokens / (r.PrefillMsMedian / 1000), 0),
                $"{Report.F(r.DecodeTokensPerSecondMedian)} ({Report.F(r.DecodeTokensPerSecondMin)}/{Report.F(r.DecodeTokensPerSecondMax)})",
                Report.F(1000 / r.MedianStepMs),
                Report.F(r.FirstStepsMs, 2), Report.F(r.LastStepsMs, 2), Report.F(r.LastStepsMs / r.FirstStepsMs, 2),
                Report.F(r.TensorsPerStep, 0), Report.F(r.WeightBytesPerToken / 1e6, 1),
                Report.F(r.WeightBytesPerToken * (1000 / r.MedianStepMs) / (probeGBs * 1e9) * 100, 0) + "%",
            ]));
        // Flatness across prompt lengths: with a KV cache a step at context ~L costs about the same for any L.
        foreach (var group in rows.GroupBy(r => r.Model).Where(g => g.Count() > 1))
        {
            var shortest = group.MinBy(r => r.PromptTokens)!;
            var longest = group.MaxBy(r => r.PromptTokens)!;
            Console.WriteLine($"{group.Key}: median decode step {Report.F(shortest.MedianStepMs, 2)} ms at prompt {shortest.PromptTokens} vs "
                + $"{Report.F(longest.MedianStepMs, 2)} ms at prompt {longest.PromptTokens} (x{Report.F(longest.MedianStepMs / shortest.MedianStepMs, 2)} "
                + $"for x{Report.F((double)longest.PromptTokens / shortest.PromptTokens, 1)} context); recomputing the prefix each step would cost "
                + $"~{Report.F(longest.PrefillMsMedian, 0)} ms per step at prompt {longest.PromptTokens}.");
        }
        return 0;
    }

    /// <summary>The checkpoint folder of a <c>--models</c> entry: a named shape (written to <paramref name="cache"/> once) or a folder.</summary>
    internal static string ModelFolder(string name, string cache) => name switch
    {
        "tiny" => Path.Combine(Report.RepositoryRoot(), "tests", "fixtures", "llama-tiny"),
        "100m" => Checkpoints.Ensure(cache, "llama-100m-f32", "100m", ScalarType.Float32),
        "70m" => Checkpoints.Ensure(cache, "llava-70m-decoder-f32", "70m (decoder of the 69.5M LLaVA)", Checkpoints.Llava70mDecoder, ScalarType.Float32),
        "1b" => Checkpoints.Ensure(cache, "llama-1b-f32", "1b", ScalarType.Float32),
        _ when Checkpoints.IsCheckpoint(name) => name,
        _ => throw new ArgumentException($"--models: '{name}' is neither tiny, 70m, 100m, 1b nor a checkpoint folder."),
    };

    // warmupProcessSeconds: warm-up runs continue past `warmup` until the process is this old (ProcessAge).
    internal static IEnumerable<DecodeRow> Measure(string name, string dir, WeightFormat? format, ScalarType? kvCache, int[] promptLengths, int newTokens, int warmup, int reps, int prefillChunk, double warmupProcessSeconds = 0)
    {
        var loading = Stopwatch.StartNew();
        using var lm = LanguageModel.Load(dir, new ModelLoadOptions { Weights = format, KvCache = kvCache });
        // What the load alone holds, so a run's peak RSS can be split between weights and a prompt's activations.
        Console.Error.WriteLine($"  {name}: loaded in {Report.F(loading.Elapsed.TotalSeconds)} s, RSS {Environment.WorkingSet >> 20} MiB");
        // No end-of-sequence ids: random weights may emit EOS early, and every run must produce exactly newTokens.
        using var engine = new GenerationEngine(lm.Decoder, lm.Tokenizer, [], maxBatch: 1, prefillChunkTokens: prefillChunk);
        // Checkpoints written by `init` pair a 32000-row head with the repository's small test tokenizer, whose
        // detokenizer rejects ids past its vocabulary. Mask those logits in place (one fill per step, negligible)
        // so the real generation loop, detokenizer included, can run on them.
        int decodable = lm.Tokenizer.VocabSize;
        if (decodable < lm.Decoder.Config.VocabSize)
            engine.StepLogitsObserver = logits => { using var tail = logits.narrow(-1, decodable, logits.shape[^1] - decodable); tail.fill_(float.NegativeInfinity); };
        // Tensors the worker creates between two forwards: a decode step's op count (TorchSharp counts per thread, and the observer runs on the worker).
        var counts = new List<long>();
        var mask = engine.StepLogitsObserver;
        engine.StepLogitsObserver = logits =>
        {
            mask?.Invoke(logits);
            var stats = TorchSharp.DisposeScopeManager.Statistics.TensorStatistics;
            lock (counts) counts.Add(stats.CreatedInScopeCount + stats.CreatedOutsideScopeCount);
        };
        long parameters = lm.Decoder.ParameterCount;
        long weightBytes = WeightBytesPerToken(lm.Decoder);
        var rows = new List<DecodeRow>();
        foreach (int length in promptLengths)
        {
            if (length + newTokens > lm.Decoder.Config.MaxPositionEmbeddings)
                throw new ArgumentException($"{name}: prompt {length} + {newTokens} new tokens exceed max_position_embeddings {lm.Decoder.Config.MaxPositionEmbeddings}.");
            var ids = PromptIds(lm, length);
            for (int i = 0; i < warmup || ProcessAge.Seconds < warmupProcessSeconds; i++) RunOnce(lm, engine, ids, newTokens);
            var perStep = new List<double>();
            var runs = Enumerable.Range(0, reps).Select(_ =>
            {
                lock (counts) counts.Clear();
                var run = RunOnce(lm, engine, ids, newTokens);
                // counts[0] follows the prefill; each later one closes a decode step.
                lock (counts) perStep.AddRange(counts.Zip(counts.Skip(1), (a, b) => (double)(b - a)));
                return run;
            }).ToList();
            var row = new DecodeRow(
                name, lm.Decoder.DType.ToString(), parameters, length, newTokens,
                Report.Median(runs.Select(r => r.PrefillMs)), runs.Min(r => r.PrefillMs),
                Report.Median(runs.Select(r => r.TokensPerSecond)), runs.Min(r => r.TokensPerSecond), runs.Max(r => r.TokensPerSecond),
                Report.Median(runs.Select(r => Report.Median(r.StepMs.Take(Window)))),
                Report.Median(runs.Select(r => Report.Median(r.StepMs.TakeLast(Window)))),
                Report.Median(runs.Select(r => Report.Median(r.StepMs))),
                perStep.Count > 0 ? Report.Median(perStep) : double.NaN, weightBytes);
            rows.Add(row);
            Console.Error.WriteLine($"  {name} prompt {length}: prefill {Report.F(row.PrefillMsMedian)} ms, decode {Report.F(row.DecodeTokensPerSecondMedian)} tok/s");
        }
        return rows;
    }

    /// <summary>
    /// Bytes of weights one decode token reads: every parameter and packed matrix, less the embedding table (one row is
    /// read) unless it is also the vocabulary head.
    /// </summary>
    static long WeightBytesPerToken(LlavaModal.Abstractions.Decoding.CausalLanguageModel decoder)
    {
        long bytes = 0;
        foreach (var (name, p) in decoder.named_parameters())
            if (!name.EndsWith("embed_tokens.weight", StringComparison.Ordinal) || decoder.Config.TieWordEmbeddings)
                bytes += p.numel() * p.element_size();
        foreach (var (_, module) in decoder.named_modules())
            if (module is LlavaModal.Core.Quantization.PackedLinear packed) bytes += packed.Weight.ByteCount;
        return bytes;
    }

    /// <summary>Exactly <paramref name="length"/> ids: BOS then the tokenised text, repeated as needed.</summary>
    static int[] PromptIds(LanguageModel lm, int length)
    {
        const string text = "A chair is a piece of furniture with a raised surface supported by legs, commonly used to seat a single person. "
            + "Café culture in Zürich grew around the lake, where people meet to talk about books, music and the weather. ";
        int bos = lm.Tokenizer.BosTokenId ?? 1;
        var body = lm.Tokenizer.Encode(text, addSpecialTokens: false).ToArray();
        var ids = new List<int>(length) { bos };
        while (ids.Count < length) ids.AddRange(body.Take(length - ids.Count));
        if (ids.Any(id => id < 0 || id >= lm.Decoder.Config.VocabSize)) throw new InvalidOperationException("prompt id outside the model's vocabulary.");
        return ids.ToArray();
    }

    static RunTiming RunOnce(LanguageModel lm, GenerationEngine engine, int[] ids, int newTokens)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var embeddings = lm.Decoder.Embed(tensor(ids.Select(i => (long)i).ToArray(), device: lm.Decoder.Device));
        var stamps = new List<double>(newTokens);
        var clock = Stopwatch.StartNew();
        // The engine calls back right after each token is chosen (host read included); the gaps are the decode steps.
        var result = engine.Run([new PromptSequence(ids, embeddings)], new GenerationOptions { MaxNewTokens = newTokens },
            CancellationToken.None, (_, _) => stamps.Add(clock.Elapsed.TotalMilliseconds))[0];
        double end = clock.Elapsed.TotalMilliseconds;
        if (result.GeneratedIds.Count != newTokens) throw new InvalidOperationException($"generated {result.GeneratedIds.Count} tokens, expected {newTokens}.");
        // The last token's callback is skipped when it completes no text; the loop ends right after it, so use the end time.
        if (stamps.Count < newTokens) stamps.Add(end);
        var steps = new double[newTokens - 1];
        for (int i = 1; i < newTokens; i++) steps[i - 1] = stamps[i] - stamps[i - 1];
        return new RunTiming(result.Prefill.TotalMilliseconds, result.DecodeTokensPerSecond, steps);
    }

    sealed record RunTiming(double PrefillMs, double TokensPerSecond, double[] StepMs);
}

/// <summary>One model and prompt length: medians over the measured runs.</summary>
sealed record DecodeRow(
    string Model, string Dtype, long Parameters, int PromptTokens, int NewTokens,
    double PrefillMsMedian, double PrefillMsMin,
    double DecodeTokensPerSecondMedian, double DecodeTokensPerSecondMin, double DecodeTokensPerSecondMax,
    double FirstStepsMs, double LastStepsMs, double MedianStepMs, double TensorsPerStep, long WeightBytesPerToken);
