using System.CommandLine;
using System.Text.Json;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Core.Attention;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Modules;
using LlavaModal.Decoder.Llama;
using LlavaModal.Multimodal.Loading;
using static TorchSharp.torch;

namespace LlavaModal.Cli.Commands;

/// <summary><c>llava-modal init</c>: writes a random-weight checkpoint of a named shape in the Hugging Face layout.</summary>
static class InitCommand
{
    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = $"Model shape: {Presets.Names}.", Required = true };
        var output = new Option<string>("--out") { Description = "New folder to write (must not exist or be empty unless --force).", Required = true };
        var force = Outputs.ForceOption();
        var seed = new Option<long>("--seed") { Description = "Seed of the random weights.", DefaultValueFactory = _ => 0 };
        var dtype = new Option<string>("--dtype") { Description = "Stored dtype: f32 or bf16.", DefaultValueFactory = _ => "f32" };
        var shard = new Option<double>("--max-shard-mb") { Description = "Split weights into shards of at most this many MB (with model.safetensors.index.json).", DefaultValueFactory = _ => 5000 };
        var command = new Command("init", "Write a random-weight LLaMA or LLaVA-OneVision checkpoint (config, safetensors, tokenizer, processor configs) for tests and benchmarks; its output is random text.")
        {
            preset, output, seed, dtype, shard, force,
        };
        command.SetAction((parse, _) => CliErrors.RunAsync(() =>
        {
            var name = parse.GetValue(preset)!;
            OnevisionPresets.All.TryGetValue(name, out var onevision);
            if (!Presets.Llama.TryGetValue(name, out var config) && onevision is null)
                throw new ArgumentException($"--preset '{name}' is unknown (known: {Presets.Names}).");
            var type = DTypes.Parse(parse.GetValue(dtype)!, "--dtype");
            if (type == ScalarType.Float16) throw new ArgumentException("--dtype must be f32 or bf16.");
            var dir = parse.GetValue(output)!;
            var target = Outputs.Folder(dir, "--out", parse.GetValue(force));
            if (!(parse.GetValue(shard) > 0 && parse.GetValue(shard) <= 1 << 30)) throw new ArgumentException("--max-shard-mb must be positive (and at most 2^30).");
            if (onevision is not null)
            {
                long bytes = OnevisionPresets.Parameters(onevision) * (type == ScalarType.Float32 ? 4 : 2);
                Outputs.IntoFolder(target, () => CliProgress.Run("init", Math.Max(1, bytes >> 20), "MB", progress =>
                {
                    OnevisionPresets.Write(target, onevision, type, parse.GetValue(seed), (long)(parse.GetValue(shard) * (1 << 20)), b => progress(b >> 20));
                    progress(Math.Max(1, bytes >> 20));
                    return 0;
                }));
                Console.WriteLine($"wrote {name} ({OnevisionPresets.Parameters(onevision) / 1e6:F1}M parameters, {type}) to {dir}");
                return Task.FromResult(0);
            }
            var llama = config!;
            Outputs.IntoFolder(target, () =>
            {
                var sized = llama with { TorchDType = type };
                var megabytes = (Parameters(sized) * (type == ScalarType.Float32 ? 4 : 2) + (1 << 20) - 1) >> 20;
                return CliProgress.Run("init", Math.Max(1, megabytes), "MB", progress =>
                {
                    Write(target, sized, parse.GetValue(seed), (long)(parse.GetValue(shard) * (1 << 20)), bytes => progress(bytes >> 20));
                    progress(Math.Max(1, megabytes));
                    return 0;
                });
            });
            Console.WriteLine($"wrote {name} ({Parameters(llama) / 1e6:F1}M parameters, {type}) to {dir}");
            return Task.FromResult(0);
        }));
        return command;
    }

    internal static long Parameters(IDecoderConfig config)
    {
        using var meta = OnMeta(config, ScalarType.Float32);
        return meta.ParameterCount;
    }

    /// <summary>The decoder's modules on the meta device: names and shapes without memory.</summary>
    static CausalLanguageModel OnMeta(IDecoderConfig config, ScalarType dtype) =>
        (BuiltInArchitectures.Catalog.FindDecoder(config.ModelType) ?? throw new ArgumentException($"'{config.ModelType}' is not a registered decoder family."))
            .Create(config, new ModelBuildContext(dtype, device("meta"), TorchLinearFactory.Instance, new EagerAttention()));

    /// <summary>Writes config.json, generation_config.json, the tokenizer files and random weights, one tensor at a time; <paramref name="written"/> hears the weight bytes made so far.</summary>
    internal static void Write(string dir, LlamaConfig config, long seed, long maxShardBytes, Action<long>? written = null)
    {
        Directory.CreateDirectory(dir);
        List<TensorSpec> specs;
        using (var meta = OnMeta(config, config.TorchDType))
            specs = meta.named_parameters().Select(p => new TensorSpec(p.name, p.parameter.shape, config.TorchDType)).ToList();
        var generator = new Generator((ulong)seed);
        long made = 0;
        SafeTensorsWriter.WriteCheckpoint(dir, specs, spec =>
        {
            written?.Invoke(made);
            made += spec.Shape.Aggregate(1L, (a, b) => a * b) * (spec.Type == ScalarType.Float32 ? 4 : 2);
            // Norm weights start at one, everything else ~ N(0, 0.02) as the reference initialises LLaMA.
            if (spec.Name.EndsWith("norm.weight", StringComparison.Ordinal)) return ones(spec.Shape, spec.Type);
            using var values = normal(0, 0.02, spec.Shape, generator: generator);
            return values.to(spec.Type);
        }, maxShardBytes);
        File.WriteAllText(Path.Combine(dir, "config.json"), JsonSerializer.Serialize(config.ToJsonObject(), new JsonSerializerOptions { WriteIndented = true }));
        File.WriteAllText(Path.Combine(dir, "generation_config.json"), JsonSerializer.Serialize(new { bos_token_id = 1, eos_token_id = 2 }, new JsonSerializerOptions { WriteIndented = true }));
        Assets.CopyTokenizer(dir);
    }
}
