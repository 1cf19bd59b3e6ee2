using System.Diagnostics;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Decoder.Generation;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.SemanticKernel.Services;
using Microsoft.Extensions.AI;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace LlavaModal.Benchmarks;

/// <summary>
/// <c>soak</c>: thousands of requests with images against llava-tiny-a, in concurrent waves that mix whole, streamed and
/// cancelled generations, chat-client calls and hostile inputs (a truncated PNG, a 1x20000 strip, a prompt longer than the
/// context: each must be refused with its typed error); every few waves the model (and its chat client) is disposed while a
/// wave is in flight and a new one is loaded. Reports RSS over the run: native memory must stay flat, and the process must
/// survive every disposal race.
/// </summary>
static class SoakBenchmark
{
    public static int Run(BenchArgs args)
    {
        int requests = args.Int("--requests", 3000, min: 1);
        int wave = args.Int("--wave", 12, min: 2);
        int disposeEvery = args.Int("--dispose-every", 10, min: 1);
        int reportEvery = args.Int("--report-every", 500, min: 1);
        int threads = args.Int("--threads", 0);
        int promptCacheMb = args.Int("--prompt-cache-mb", (int)(ModelLoadOptions.DefaultPromptCacheBytes >> 20));
        bool json = args.Flag("--json");
        args.RejectUnknown();
        if (threads > 0) TorchSharp.torch.set_num_threads(threads);
        var root = Report.RepositoryRoot();
        var modelDir = Path.Combine(root, "tests", "fixtures", "llava-tiny-a");
        var image = ModalityInput.FromFile(Path.Combine(root, "tests", "fixtures", "images", "tiny_7x5.png"), "image");
        var photo = ModalityInput.FromFile(Path.Combine(root, "tests", "fixtures", "images", "portrait_200x300.jpg"), "image");
        var truncated = new ModalityInput(File.ReadAllBytes(Path.Combine(root, "tests", "fixtures", "images", "gradient_640x480.png"))[..4000], "image/png", "truncated.png");
        var strip = new ModalityInput(Strip(), "image/png", "strip-1x20000.png");
        var longText = string.Concat(Enumerable.Repeat("word ", 3000));
        var options = new GenerationOptions { MaxNewTokens = 6, StopTokenIds = [] };

        var outcomes = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var samples = new List<(int Requests, double Seconds, long Rss, long Hwm, long Trimmed)>();
        var clock = Stopwatch.StartNew();
        var start = ProcStatus.Read();
        samples.Add((0, 0, start.RssBytes, start.HwmBytes, start.RssBytes));
        int done = 0, waves = 0, disposals = 0;
        var random = new Random(15);
        int nextReport = reportEvery;
        while (done < requests)
        {
            var model = MultimodalModel.Load(modelDir, [new LlavaVisionFactory()], new ModelLoadOptions { PromptCacheBytes = (long)promptCacheMb << 20 });
            var client = new LlavaChatClient(model);
            for (int w = 0; w < disposeEvery && done < requests; w++, waves++)
            {
                bool raceThisWave = w == disposeEvery - 1;
                var tasks = new List<Task<string>>();
                for (int i = 0; i < wave; i++)
                {
                    int kind = (done + i) % 8;
                    tasks.Add(Task.Run(() => Request(kind, model, client, image, photo, truncated, strip, longText, options)));
                }
                if (raceThisWave)
                {
                    Thread.Sleep(random.Next(30));
                    client.Dispose();
                    model.Dispose();
                    disposals++;
                }
                foreach (var task in tasks)
                {
                    var outcome = task.GetAwaiter().GetResult();
                    outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
                }
                done += tasks.Count;
                if (done >= nextReport || done >= requests)
                {
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                    var now = ProcStatus.Read();
                    // Freed native memory that glibc keeps in its arenas counts in RSS; trimming tells it apart from a leak.
                    MallocTrim(0);
                    long trimmed = ProcStatus.Read().RssBytes;
                    samples.Add((done, clock.Elapsed.TotalSeconds, now.RssBytes, now.HwmBytes, trimmed));
                    Console.Error.WriteLine($"soak: {done}/{requests} requests, {clock.Elapsed.TotalSeconds:F0} s, RSS {now.RssBytes >> 20} MiB, after malloc_trim {trimmed >> 20} MiB");
                    nextReport += reportEvery;
                }
            }
            model.Dispose();
        }
        var end = samples[^1];
        var unexpected = outcomes.Keys.Where(k => k.StartsWith("UNEXPECTED", StringComparison.Ordinal)).ToList();
        if (json)
        {
            Console.WriteLine(Report.ToJson(new
            {
                requests = done, waves, disposals, seconds = end.Seconds, rss_start_mib = start.RssBytes >> 20, rss_end_mib = end.Rss >> 20,
                hwm_mib = end.Hwm >> 20, samples = samples.Select(s => new { s.Requests, s.Seconds, rss_mib = s.Rss >> 20, rss_trimmed_mib = s.Trimmed >> 20 }), outcomes,
            }));
        }
        else
        {
            Console.WriteLine($"soak: {done} requests in {waves} waves of {wave}, {disposals} disposals mid-wave, {Report.F(end.Seconds, 0)} s; {Report.Machine()}");
            Report.Table(["requests", "seconds", "RSS", "RSS after malloc_trim", "peak RSS"], samples.Select(s => (IReadOnlyList<string>)[s.Requests.ToString(System.Globalization.CultureInfo.InvariantCulture), Report.F(s.Seconds, 0), Report.MiB(s.Rss), Report.MiB(s.Trimmed), Report.MiB(s.Hwm)]));
            Console.WriteLine("outcomes: " + string.Join(", ", outcomes.Select(kv => $"{kv.Key} {kv.Value}")));
        }
        return unexpected.Count == 0 ? 0 : 1;
    }

    /// <summary>One request of the mix; returns its outcome ("finished", "cancelled", the expected refusal) or "UNEXPECTED ..." for anything else.</summary>
    static async Task<string> Request(int kind, MultimodalModel model, LlavaChatClient client, ModalityInput image, ModalityInput photo,
        ModalityInput truncated, ModalityInput strip, string longText, GenerationOptions options)
    {
        try
        {
            switch (kind)
            {
                case 0:
                    model.Generate(new MultimodalPrompt("USER: <image>\nWhat is it? ASSISTANT:", [image]), options);
                    return "finished";
                case 1:
                    await foreach (var _ in model.GenerateStreamingAsync(new MultimodalPrompt("USER: <image>\nDescribe. ASSISTANT:", [photo]), options)) { }
                    return "finished (streamed)";
                case 2:
                    using (var cancel = new CancellationTokenSource())
                    {
                        await foreach (var _ in model.GenerateStreamingAsync(new MultimodalPrompt("USER: <image>\nDescribe. ASSISTANT:", [image]), options, cancel.Token))
                            await cancel.CancelAsync();
                    }
                    return "finished (cancelled stream)";
                case 3:
                    await client.GetResponseAsync([new ChatMessage(ChatRole.User, [new DataContent(photo.Data, "image/jpeg"), new TextContent("What is in it?")])],
                        new ChatOptions { MaxOutputTokens = 6 });
                    return "finished (chat client)";
                case 4:
                    model.Generate(new MultimodalPrompt("USER: <image>\nWhat? ASSISTANT:", [truncated]), options);
                    return "UNEXPECTED: a truncated PNG was accepted";
                case 5:
                    model.Generate(new MultimodalPrompt("USER: <image>\nWhat? ASSISTANT:", [strip]), options);
                    return "UNEXPECTED: a 1x20000 strip was accepted";
                case 6:
                    model.Generate(new MultimodalPrompt(longText, []), options);
                    return "UNEXPECTED: a prompt over the context was accepted";
                default:
                    model.GenerateBatch([new MultimodalPrompt("USER: <image>\nColour? ASSISTANT:", [image]), new MultimodalPrompt("USER: Hello ASSISTANT:", [])], options);
                    return "finished (batch)";
            }
        }
        catch (ObjectDisposedException) { return "disposed"; }
        catch (OperationCanceledException) { return "cancelled"; }
        catch (InputLimitException) when (kind == 6) { return "refused (context)"; }
        catch (LlavaModalException) when (kind is 4 or 5) { return "refused (image)"; }
        catch (Exception e) { return $"UNEXPECTED {e.GetType().Name}: {e.Message}"; }
    }

    static byte[] Strip()
    {
        using var strip = new Image<Rgb24>(1, 20000);
        using var stream = new MemoryStream();
        strip.SaveAsPng(stream);
        return stream.ToArray();
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "malloc_trim")]
    static extern int MallocTrim(nuint pad);
}
