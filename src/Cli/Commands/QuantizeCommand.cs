using System.CommandLine;
using LlavaModal.Multimodal.Quantization;

namespace LlavaModal.Cli.Commands;

/// <summary><c>llava-modal quantize</c>: writes a copy of a model folder whose decoder projections are stored as int8 or int4 blocks.</summary>
static class QuantizeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model folder (Hugging Face layout, f32/f16/bf16 weights); only read.", Required = true };
        var output = new Option<string>("--out") { Description = "New folder to write (must not exist or be empty unless --force; never inside the model folder).", Required = true };
        var force = Outputs.ForceOption();
        var format = new Option<string>("--format") { Description = "int8 (blocks of 32 with an f16 scale, 8.5 bits a weight) or int4 (4.5 bits a weight).", Required = true };
        var command = new Command("quantize",
            "Store a model's decoder projections (q/k/v/o, gate/up/down) as int8 or int4 blocks, and an untied lm_head as int8: the new folder loads directly, with no quantization at load; " +
            "embeddings, norms, vision tower, projector and the tokenizer and config files are copied unchanged.")
        {
            model, output, format, force,
        };
        command.SetAction((parse, _) => CliErrors.RunAsync(() =>
        {
            var modelDir = parse.GetValue(model)!;
            var name = parse.GetValue(format)!;
            var chosen = LoadOptions.ParseWeights(name) is { } f && (f is Core.Kernels.WeightFormat.Int8 or Core.Kernels.WeightFormat.Int4)
                ? f : throw new ArgumentException($"--format '{name}' is not a stored format (int8 or int4; f32, bf16 and f16 are chosen at load with --weights).");
            var result = CliProgress.Loading(modelDir, () => CheckpointQuantizer.Quantize(modelDir, parse.GetValue(output)!, chosen, parse.GetValue(force)));
            Console.WriteLine($"wrote {result.Directory}: {result.PackedLayers} layers as {chosen.ToString().ToLowerInvariant()}, weights {result.BytesBefore / 1048576.0:F1} MiB -> {result.BytesAfter / 1048576.0:F1} MiB");
            if (result.SkippedDirectories.Count > 0) Console.WriteLine($"not copied (subfolders): {string.Join(", ", result.SkippedDirectories)}");
            return Task.FromResult(0);
        }));
        return command;
    }
}
