using System.Diagnostics;
using LlavaModal.Abstractions.Decoding;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Loading;
using static TorchSharp.torch;

namespace LlavaModal.Benchmarks;

/// <summary>
/// Hidden mode <c>load-rss-child DIR</c>: loads a checkpoint with <see cref="ModelFolder"/>
/// in a fresh process, runs one short forward pass, and prints one JSON object with the process's memory
/// (from <c>/proc/self/status</c>) before loading, after loading and after the forward pass.
/// </summary>
static class LoadRssChild
{
    public const string Mode = "load-rss-child";

    public static int Run(BenchArgs args)
    {
        int tokens = args.Int("--forward-tokens", 8, min: 1);
        bool breakdown = args.Flag("--breakdown");
        args.RejectUnknown();
        if (args.Positional.Count != 1) throw new ArgumentException($"{Mode} needs exactly one checkpoint folder.");
        var dir = args.Positional[0];

        // Load libtorch first so the baseline includes the native runtime, not just the managed host.
        using (var warm = ones(4)) _ = warm.sum().item<float>();
        var before = ProcStatus.Read();

        var clock = Stopwatch.StartNew();
        Phase? phase = null;
        using var model = Load(dir, breakdown, out phase);
        double loadMs = clock.Elapsed.TotalMilliseconds;
        var afterLoad = ProcStatus.Read();
        long parameterBytes = model.parameters().Sum(p => p.numel() * p.element_size());

        // One forward pass proves the weights are usable (finite logits of the right shape).
        clock.Restart();
        bool finite;
        long[] logitsShape;
        using (no_grad())
        using (NewDisposeScope())
        {
            var ids = arange(1, tokens + 1, ScalarType.Int64).unsqueeze(0);
            var logits = model.Forward(model.Embed(ids), arange(tokens, ScalarType.Int64).unsqueeze(0));
            finite = logits.isfinite().all().item<bool>();
            logitsShape = logits.shape;
        }
        double forwardMs = clock.Elapsed.TotalMilliseconds;
        var afterForward = ProcStatus.Read();

        Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new ChildResult(
            before.RssBytes, before.HwmBytes, afterLoad.RssBytes, afterLoad.HwmBytes, afterForward.RssBytes, afterForward.HwmBytes,
            loadMs, forwardMs, model.ParameterCount, parameterBytes, model.DType.ToString(), finite, logitsShape, phase)));
        return finite ? 0 : 1;
    }

    /// <summary>
    /// Loads the decoder as every model load does (<see cref="ModelFolder"/>);
    /// with <paramref name="breakdown"/>, times apart constructing the modules (which allocates every parameter, without
    /// random initialisation) and reading the weights into them in place.
    /// </summary>
    static CausalLanguageModel Load(string dir, bool breakdown, out Phase? phase)
    {
        using var folder = ModelFolder.Open(dir);
        var catalog = BuiltInArchitectures.Catalog;
        var (family, config) = folder.ReadDecoderConfig(catalog);
        var build = new ModelLoadOptions().BuildContext(folder.ComputeDType(null, config));
        var clock = Stopwatch.StartNew();
        double constructMs = 0;
        ProcStatus afterConstruct = default;
        var model = folder.LoadDecoder(family, config, build, breakdown ? () =>
        {
            constructMs = clock.Elapsed.TotalMilliseconds;
            afterConstruct = ProcStatus.Read();
            clock.Restart();
        } : null);
        phase = breakdown ? new Phase(constructMs, afterConstruct.RssBytes, clock.Elapsed.TotalMilliseconds) : null;
        return model;
    }
}

/// <summary>What the child reports (bytes and milliseconds).</summary>
sealed record ChildResult(
    long RssBeforeLoad, long HwmBeforeLoad, long RssAfterLoad, long HwmAfterLoad, long RssAfterForward, long HwmAfterForward,
    double LoadMs, double ForwardMs, long Parameters, long ParameterBytes, string Dtype, bool LogitsFinite, long[] LogitsShape, Phase? Phases = null);

/// <summary>Where the load time goes (only with <c>--breakdown</c>).</summary>
sealed record Phase(double ConstructMs, long RssAfterConstruct, double ReadWeightsMs);

/// <summary>Resident set size (<c>VmRSS</c>) and its peak (<c>VmHWM</c>) of this process (or of the process whose status file is given).</summary>
readonly record struct ProcStatus(long RssBytes, long HwmBytes)
{
    public static ProcStatus Read(string statusFile = "/proc/self/status")
    {
        long rss = -1, hwm = -1;
        foreach (var line in File.ReadLines(statusFile))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = Kilobytes(line);
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) hwm = Kilobytes(line);
        }
        if (rss < 0 || hwm < 0) throw new PlatformNotSupportedException($"{statusFile} has no VmRSS/VmHWM (Linux only).");
        return new ProcStatus(rss, hwm);
    }

    static long Kilobytes(string line) =>
        long.Parse(line.Split(':')[1].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
}
