using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Benchmarks.Gguf;
using LlavaModal.Core.Kernels;
using LlavaModal.Decoder.Generation;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using static TorchSharp.torch;

namespace LlavaModal.Benchmarks.LlamaCpp;

/// <summary>Our side of one image comparison: medians over the runs of a process.</summary>
/// <param name="Positions">Prompt positions (image tokens included).</param>
/// <param name="PrepareMs">Reading, decoding and preprocessing the image file.</param>
/// <param name="EncodeMs">The vision tower and projector on the preprocessed image.</param>
/// <param name="FirstTokenMs">From the request to the first token: preparation, encoding and the prompt's forward pass.</param>
sealed record OursImageResult(int Positions, double PrepareMs, double EncodeMs, double FirstTokenMs);

/// <summary>llama.cpp's side: medians over runs of <c>llama-llava-cli</c>, and its processes' peak RSS.</summary>
sealed record TheirImageResult(int Positions, double EncodeMs, double PromptMs, long PeakRssBytes);

/// <summary>
/// <c>llamacpp-image</c>: an image prompt on the 69.5M LLaVA-1.5 shape (CLIP 6 x 384 at 224 px, 256 image tokens; the
/// 70m decoder) against llama.cpp's <c>llama-llava-cli</c> on the same weights: the tower and projector (f32 in both:
/// an f32 checkpoint's encoders stay f32 in every weight format, and the mmproj file is f32), then the prompt's
/// forward pass over the same number of positions with the decoder in each weight format. llama.cpp's reported
/// "image encoded" and "prompt eval" times leave out its image decoding and preprocessing; ours are given both with
/// and without them. Alternating rounds, a fresh process per measurement.
/// </summary>
static class ImagePrefillBenchmark
{
    public const string ChildMode = "llamacpp-image-child";

    public static int Run(BenchArgs args)
    {
        var cli = args.String("--llava-cli", "") is { Length: > 0 } c ? Path.GetFullPath(c)
            : throw new ArgumentException("--llava-cli PATH is required (llama.cpp's llama-llava-cli, built as benchmarks/README.md says).");
        if (!File.Exists(cli)) throw new ArgumentException($"--llava-cli: '{cli}' does not exist.");
        var folder = Path.GetDirectoryName(cli)!;
        var formats = args.String("--formats", "f32,bf16,int8,int4").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var f in formats)
            if (!LlamaCppBenchmark.Pairs.ContainsKey(f)) throw new ArgumentException($"--formats: '{f}' is not one of {string.Join(", ", LlamaCppBenchmark.Pairs.Keys)}.");
        int reps = args.Int("--reps", 5, min: 1);
        int rounds = args.Int("--rounds", 2, min: 1);
        int threads = args.Int("--threads", 2, min: 1);
        var image = Path.GetFullPath(args.String("--image", Path.Combine(Report.RepositoryRoot(), "tests", "fixtures", "images", "gradient_640x480.png")));
        if (!File.Exists(image)) throw new ArgumentException($"--image: '{image}' does not exist.");
        var cache = args.String("--cache", Report.DefaultCache());
        bool json = args.Flag("--json");
        args.RejectUnknown();
        KernelPool.UseThreads(threads);

        var tools = new LlamaCppTools(Path.Combine(folder, "llama-bench"), Path.Combine(folder, "llama-quantize"), null);
        var decoder = LlamaCppBenchmark.Prepare("70m", cache, formats, tools, threads);
        var llava = Checkpoints.EnsureLlava70m(cache, decoder.Folder);
        var mmproj = Path.Combine(cache, "gguf", "llava-70m-f32-mmproj-f32.gguf");
        if (!File.Exists(mmproj))
        {
            Console.Error.WriteLine($"writing {mmproj} ...");
            ClipGgufExport.Write(llava, mmproj + ".partial", Checkpoints.Llava70mTower, Checkpoints.Llava70mDecoder.HiddenSize);
            File.Move(mmproj + ".partial", mmproj);
        }

        var samples = new List<(int Round, string Format, OursImageResult Ours, long OursRss, TheirImageResult Theirs)>();
        for (int round = 0; round < rounds; round++)
        {
            Console.Error.WriteLine($"round {round + 1}/{rounds}, load average {File.ReadAllText("/proc/loadavg").Trim()}");
            foreach (var format in formats)
            {
                var theirs = RunTheirs(cli, decoder.Ggufs[LlamaCppBenchmark.Pairs[format].Theirs], mmproj, image, threads, reps);
                var (ours, rss) = RunOurs(llava, format, image, theirs.Positions, threads, reps);
                samples.Add((round, format, ours, rss, theirs));
                Console.Error.WriteLine($"  {format}: ours {ours.Positions} positions, prepare {Report.F(ours.PrepareMs)} ms, encode {Report.F(ours.EncodeMs)} ms, first token {Report.F(ours.FirstTokenMs)} ms, rss {Report.MiB(rss)} | "
                    + $"llama.cpp {theirs.Positions} positions, encode {Report.F(theirs.EncodeMs)} ms, prompt {Report.F(theirs.PromptMs)} ms, rss {Report.MiB(theirs.PeakRssBytes)}");
            }
        }

        var rows = samples.GroupBy(s => s.Format).Select(g =>
        {
            double M(Func<(int Round, string Format, OursImageResult Ours, long OursRss, TheirImageResult Theirs), double> f) => Report.Median(g.Select(f));
            double oursEncode = M(s => s.Ours.EncodeMs), theirEncode = M(s => s.Theirs.EncodeMs);
            // Our prompt's forward pass: the first token's time less the image's preparation and encoding (medians of the same process).
            double oursImagePrompt = M(s => s.Ours.FirstTokenMs - s.Ours.PrepareMs), theirImagePrompt = M(s => s.Theirs.EncodeMs + s.Theirs.PromptMs);
            return new
            {
                format = g.Key, theirs = LlamaCppBenchmark.Pairs[g.Key].Theirs, positions = g.First().Ours.Positions, their_positions = g.First().Theirs.Positions,
                ours_prepare_ms = M(s => s.Ours.PrepareMs), ours_encode_ms = oursEncode, their_encode_ms = theirEncode,
                ours_prompt_ms = oursImagePrompt - oursEncode, their_prompt_ms = M(s => s.Theirs.PromptMs),
                ours_image_prompt_ms = oursImagePrompt, their_image_prompt_ms = theirImagePrompt, ours_first_token_ms = M(s => s.Ours.FirstTokenMs),
                ours_rss_mib = g.Max(s => s.OursRss) / 1048576.0, their_rss_mib = g.Max(s => s.Theirs.PeakRssBytes) / 1048576.0,
            };
        }).ToList();
        if (json)
        {
            Console.WriteLine(Report.ToJson(new { benchmark = "llamacpp-image", machine = Report.Machine(), llama_cpp = cli, reps, rounds, threads, image, rows }));
            return 0;
        }
        Console.WriteLine($"llamacpp-image: 69.5M LLaVA-1.5 shape (CLIP 6x384 at 224 px, 256 image tokens; 70m decoder), {Path.GetFileName(image)}, threads {threads}; "
            + $"median of {reps} runs per process, median over {rounds} alternating rounds; {Report.Machine()}");
        Console.WriteLine("ms: ours / llama.cpp = speed ratio (llama.cpp's time / ours: above 1 is faster). Image + prompt leaves out decoding and preprocessing "
            + "the image file (llama.cpp does not time them); ours with them in the last column.");
        Report.Table(
            ["format", "positions", "tower + projector ms", "prompt forward ms", "image + prompt ms", "ours incl. file + preprocessing ms", "peak RSS MiB"],
            rows.Select(r => (IReadOnlyList<string>)[
                $"{r.format} / {r.theirs}", $"{r.positions} / {r.their_positions}", Cell(r.ours_encode_ms, r.their_encode_ms), Cell(r.ours_prompt_ms, r.their_prompt_ms),
                Cell(r.ours_image_prompt_ms, r.their_image_prompt_ms), $"{Report.F(r.ours_first_token_ms)} (file + preprocessing {Report.F(r.ours_prepare_ms)})",
                $"{Report.F(r.ours_rss_mib, 0)} / {Report.F(r.their_rss_mib, 0)} = {Report.F(r.ours_rss_mib / r.their_rss_mib, 2)}",
            ]));
        return 0;
    }

    static string Cell(double ours, double theirs) => $"{Report.F(ours)} / {Report.F(theirs)} = {Report.F(theirs / ours, 2)}";

    static readonly Regex Encoded = new(@"image encoded in\s+([0-9.]+) ms", RegexOptions.Compiled);
    static readonly Regex PromptEval = new(@"prompt eval time =\s+([0-9.]+) ms /\s+([0-9]+) tokens", RegexOptions.Compiled);

    static TheirImageResult RunTheirs(string cli, string gguf, string mmproj, string image, int threads, int reps)
    {
        var encode = new List<double>();
        var prompt = new List<double>();
        int positions = 0;
        long peak = 0;
        string t = threads.ToString(CultureInfo.InvariantCulture);
        for (int i = 0; i < reps; i++)
        {
            var run = MeasuredProcess.Run(cli, ["-m", gguf, "--mmproj", mmproj, "--image", image, "-p", "Describe the image.", "-n", "1", "-t", t, "-tb", t,
                "--temp", "0", "-c", "1024"], TimeSpan.FromMinutes(5));
            var text = run.StandardOutput + run.StandardError;
            var e = Encoded.Match(text);
            var p = PromptEval.Match(text);
            if (!e.Success || !p.Success) throw new InvalidOperationException($"llama-llava-cli printed no timings:\n{string.Join('\n', text.Split('\n').TakeLast(30))}");
            encode.Add(double.Parse(e.Groups[1].Value, CultureInfo.InvariantCulture));
            prompt.Add(double.Parse(p.Groups[1].Value, CultureInfo.InvariantCulture));
            positions = int.Parse(p.Groups[2].Value, CultureInfo.InvariantCulture);
            peak = Math.Max(peak, run.PeakRssBytes);
        }
        return new TheirImageResult(positions, Report.Median(encode), Report.Median(prompt), peak);
    }

    static (OursImageResult Result, long PeakRss) RunOurs(string folder, string format, string image, int positions, int threads, int reps)
    {
        string S(int v) => v.ToString(CultureInfo.InvariantCulture);
        return MeasuredProcess.RunChild<OursImageResult>(ChildMode, [folder, "--format", format, "--image", image, "--positions", S(positions), "--reps", S(reps), "--threads", S(threads)],
            TimeSpan.FromMinutes(10));
    }

    /// <summary>
    /// Hidden mode <c>llamacpp-image-child DIR --format F --image FILE --positions N</c>: loads the LLaVA in a weight
    /// format, builds an image prompt of exactly N positions (the image and repeated short words), and times the first
    /// token of generation (the engine's own measure) and, apart, the image's preparation and encoding. One JSON line.
    /// </summary>
    public static int Child(BenchArgs args)
    {
        var format = WeightFormats.Parse(args.String("--format", "f32")) ?? throw new ArgumentException("--format: not a weight format.");
        var image = ModalityInput.FromFile(args.String("--image", ""), "image");
        int positions = args.Int("--positions", 300, min: 1);
        int reps = args.Int("--reps", 5, min: 1);
        int threads = args.Int("--threads", 2, min: 1);
        args.RejectUnknown();
        if (args.Positional.Count != 1) throw new ArgumentException($"{ChildMode} needs exactly one checkpoint folder.");
        set_num_threads(threads);
        KernelPool.UseThreads(threads);
        // No prompt cache: every run computes its whole prompt, as llama-llava-cli does.
        using var model = MultimodalModel.Load(args.Positional[0], [new LlavaVisionFactory()], new ModelLoadOptions { Weights = format, PromptCacheBytes = 0 });
        // The random 32000-row head outruns the fixture tokenizer's 512 ids; mask the rest so the first token detokenizes.
        int decodable = model.Tokenizer.VocabSize;
        model.Engine.StepLogitsObserver = logits => { using var tail = logits.narrow(-1, decodable, logits.shape[^1] - decodable); tail.fill_(float.NegativeInfinity); };

        var prompt = PromptOf(model, image, positions);
        int actual = model.Layout(prompt).Positions;
        var binding = model.Modalities.Single();
        var options = new GenerationOptions { MaxNewTokens = 1 };
        var prepare = new List<double>();
        var encode = new List<double>();
        var first = new List<double>();
        // Three warm-up runs, and more until the process is old enough for the runtime's background recompilation (ProcessAge).
        const int warmup = 3;
        for (int i = 0; first.Count < reps; i++)
        {
            bool warming = i < warmup || ProcessAge.Seconds < ProcessAge.WarmupSeconds;
            var result = model.Generate(prompt, options);
            using (var scope = NewDisposeScope())
            using (no_grad())
            {
                var clock = Stopwatch.StartNew();
                using var prepared = binding.Encoder.Prepare(ModalityInput.FromFile(image.Source!, "image"));
                double t0 = clock.Elapsed.TotalMilliseconds;
                using var embedded = binding.Embed(prepared, CPU);
                double t1 = clock.Elapsed.TotalMilliseconds;
                if (warming) continue;
                prepare.Add(t0);
                encode.Add(t1 - t0);
            }
            first.Add(result.Prefill.TotalMilliseconds);
        }
        Console.WriteLine(JsonSerializer.Serialize(new OursImageResult(actual, Report.Median(prepare), Report.Median(encode), Report.Median(first))));
        return 0;
    }

    /// <summary>The image, then one-token words until the prompt holds <paramref name="positions"/> positions (or the first count past it).</summary>
    static MultimodalPrompt PromptOf(MultimodalModel model, ModalityInput image, int positions)
    {
        var text = new System.Text.StringBuilder(model.Modalities.Single().PromptText).Append('\n');
        for (int words = 0; words < 4 * positions; words++)
        {
            var prompt = new MultimodalPrompt(text.ToString(), [image]);
            if (model.Layout(prompt).Positions >= positions) return prompt;
            text.Append(" a");
        }
        throw new InvalidOperationException($"could not build a prompt of {positions} positions.");
    }
}
