using System.Diagnostics;
using System.Text.Json;

namespace LlavaModal.Benchmarks;

/// <summary>
/// <c>load-rss</c>: does loading a checkpoint need about one copy of it in RAM, or two? Writes a >= 1 GB random
/// checkpoint (single file and sharded), loads each in a child process (<see cref="LoadRssChild"/>) and compares
/// the child's peak RSS with the weights' size on disk. A child per load keeps the peak (VmHWM) clean of
/// anything this process did; reads use pread, so the page cache is not counted in RSS.
/// </summary>
static class LoadRssBenchmark
{
    public static int Run(BenchArgs args)
    {
        var preset = args.String("--preset", "1b");
        var dtype = args.String("--dtype", "bf16") switch
        {
            "bf16" => TorchSharp.torch.ScalarType.BFloat16,
            "f32" => TorchSharp.torch.ScalarType.Float32,
            var other => throw new ArgumentException($"--dtype must be bf16 or f32 (got '{other}')."),
        };
        int shardMb = args.Int("--shard-mb", 512, min: 1);
        int tokens = args.Int("--forward-tokens", 8, min: 1);
        var cache = args.String("--cache", Report.DefaultCache());
        bool keep = args.Flag("--keep");
        bool json = args.Flag("--json");
        args.RejectUnknown();

        var tag = $"llama-{preset}-{(dtype == TorchSharp.torch.ScalarType.BFloat16 ? "bf16" : "f32")}";
        var variants = new (string Name, string Dir, long MaxShard)[]
        {
            ("single file", Path.Combine(cache, tag), long.MaxValue),
            ($"sharded {shardMb} MB", Path.Combine(cache, $"{tag}-shard{shardMb}"), shardMb * (1L << 20)),
        };
        var rows = new List<LoadRow>();
        Phase? breakdownRow = null;
        try
        {
            foreach (var (name, dir, maxShard) in variants)
            {
                Checkpoints.Ensure(cache, Path.GetFileName(dir), preset, dtype, maxShard);
                long weights = Checkpoints.WeightBytes(dir);
                var child = RunChild(dir, tokens, breakdown: false);
                rows.Add(new LoadRow(name, dir, Checkpoints.ShardCount(dir), weights, child));
                Console.Error.WriteLine($"  {name}: peak {Report.MiB(child.HwmAfterLoad)} for {Report.MiB(weights)} of weights, load {Report.F(child.LoadMs, 0)} ms");
            }
            // Where the time and memory go: the same load, split into module construction and reading weights.
            breakdownRow = RunChild(variants[0].Dir, tokens, breakdown: true).Phases;
        }
        finally
        {
            if (!keep)
                foreach (var (_, dir, _) in variants)
                    if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }

        if (json)
        {
            Console.WriteLine(Report.ToJson(new { benchmark = "load-rss", machine = Report.Machine(), preset, dtype = dtype.ToString(), rows, breakdown = breakdownRow }));
            return 0;
        }
        Console.WriteLine($"load-rss: {preset} {dtype}, ModelFolder.LoadDecoder in a child process; {Report.Machine()}");
        Report.Table(
            ["checkpoint", "files", "weights on disk", "RSS before", "peak RSS (load)", "peak - before", "(peak - before) / weights", "load ms", $"forward {tokens} tok ms", "logits ok"],
            rows.Select(r => (IReadOnlyList<string>)[
                r.Variant, r.Files.ToString(), Report.MiB(r.WeightBytes), Report.MiB(r.Child.RssBeforeLoad), Report.MiB(r.Child.HwmAfterLoad),
                Report.MiB(r.Child.HwmAfterLoad - r.Child.RssBeforeLoad), Report.F(r.PeakOverWeights, 2),
                Report.F(r.Child.LoadMs, 0), Report.F(r.Child.ForwardMs, 0), r.Child.LogitsFinite ? "finite" : "NOT FINITE",
            ]));
        Console.WriteLine("peak RSS is VmHWM after loading (before the forward pass); after the forward pass it was "
            + string.Join(", ", rows.Select(r => $"{Report.MiB(r.Child.HwmAfterForward)} ({r.Variant})")) + ".");
        if (breakdownRow is { } p)
            Console.WriteLine($"breakdown ({variants[0].Name}): constructing the modules {Report.F(p.ConstructMs, 0)} ms (RSS after it {Report.MiB(p.RssAfterConstruct)}: "
                + $"every parameter allocated, not initialised), reading the weights in place {Report.F(p.ReadWeightsMs, 0)} ms.");
        return rows.All(r => r.Child.LogitsFinite) ? 0 : 1;
    }

    static ChildResult RunChild(string dir, int tokens, bool breakdown)
    {
        var exe = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this executable's path.");
        var start = new ProcessStartInfo(exe) { RedirectStandardOutput = true, UseShellExecute = false };
        // Under `dotnet LlavaModal.Benchmarks.dll` the process is the host, so pass the assembly too.
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet") start.ArgumentList.Add(typeof(LoadRssChild).Assembly.Location);
        foreach (var a in new[] { LoadRssChild.Mode, dir, "--forward-tokens", tokens.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            start.ArgumentList.Add(a);
        if (breakdown) start.ArgumentList.Add("--breakdown");
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the child process.");
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var line = output.Split('\n').LastOrDefault(l => l.TrimStart().StartsWith('{'));
        if (process.ExitCode != 0 && line is null) throw new InvalidOperationException($"child exited with {process.ExitCode}: {output}");
        return JsonSerializer.Deserialize<ChildResult>(line ?? throw new InvalidOperationException("child printed no result."))!;
    }
}

/// <summary>One loaded checkpoint.</summary>
sealed record LoadRow(string Variant, string Directory, int Files, long WeightBytes, ChildResult Child)
{
    /// <summary>What loading added to the process's peak, per byte of weights (1 = one copy; 2 = twice the checkpoint).</summary>
    public double PeakOverWeights => (double)(Child.HwmAfterLoad - Child.RssBeforeLoad) / WeightBytes;
}
