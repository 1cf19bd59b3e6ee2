using LlavaModal.Cli;
using LlavaModal.Cli.Commands;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Decoder.Llama;
using static TorchSharp.torch;

namespace LlavaModal.Benchmarks;

/// <summary>Random-weight checkpoints written with <c>llava-modal init</c>'s writer, reused across runs when complete.</summary>
static class Checkpoints
{
    const string CompleteMarker = ".bench-complete";

    /// <summary>
    /// Returns <c>root/name</c>, writing it first unless a previous run finished it. Writes go to a temporary
    /// sibling that is renamed at the end, so an interrupted write is never mistaken for a checkpoint.
    /// </summary>
    public static string Ensure(string root, string name, string preset, ScalarType dtype, long maxShardBytes = long.MaxValue, long seed = 0)
    {
        if (!Presets.Llama.TryGetValue(preset, out var config))
            throw new ArgumentException($"unknown preset '{preset}' (known: {Presets.Names}).");
        return Ensure(root, name, preset, config, dtype, maxShardBytes, seed);
    }

    /// <summary>
    /// The decoder of the 69.5M-parameter LLaVA shape that issue 12 measures (CLIP 6 x 384 plus this LLaMA, 8 layers of
    /// 512): 58.5M parameters. Decode runs only the decoder, so the tower is left out.
    /// </summary>
    public static readonly LlamaConfig Llava70mDecoder = new()
    {
        VocabSize = 32000, HiddenSize = 512, IntermediateSize = 1376, NumHiddenLayers = 8, NumAttentionHeads = 8, NumKeyValueHeads = 8,
        HeadDim = 64, RmsNormEps = 1e-5, MaxPositionEmbeddings = 2048,
    };

    /// <summary>As <see cref="Ensure(string, string, string, ScalarType, long, long)"/> for a shape given as a config (<paramref name="label"/> names it in messages).</summary>
    public static string Ensure(string root, string name, string label, LlamaConfig config, ScalarType dtype, long maxShardBytes = long.MaxValue, long seed = 0)
    {
        var dir = Path.Combine(root, name);
        if (File.Exists(Path.Combine(dir, CompleteMarker))) return dir;
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        var partial = dir + ".partial-" + Environment.ProcessId;
        Directory.CreateDirectory(root);
        Console.Error.WriteLine($"writing {label} ({dtype}) checkpoint to {dir} ...");
        InitCommand.Write(partial, config with { TorchDType = dtype }, seed, maxShardBytes);
        File.WriteAllText(Path.Combine(partial, CompleteMarker), "");
        Directory.Move(partial, dir);
        return dir;
    }

    /// <summary>Bytes of the safetensors files (weights only).</summary>
    public static long WeightBytes(string dir) =>
        Directory.EnumerateFiles(dir, "*.safetensors").Sum(f => new FileInfo(f).Length);

    public static int ShardCount(string dir) => Directory.EnumerateFiles(dir, "*.safetensors").Count();

    public static LlamaConfig Config(string dir) => LlamaConfig.Load(Path.Combine(dir, "config.json"));

    public static bool IsCheckpoint(string dir) => SafeTensorsCheckpoint.Exists(dir);
}
