using System.CommandLine;
using LlavaModal.Multimodal.Adapters;

namespace LlavaModal.Cli.Commands;

/// <summary><c>llava-modal merge-lora</c>: folds a PEFT LoRA adapter into its base model and writes an ordinary model folder.</summary>
static class MergeLoraCommand
{
    public static Command Create()
    {
        var adapter = new Option<string>("--adapter") { Description = "LoRA adapter folder (PEFT layout: adapter_config.json, adapter_model.safetensors); only read.", Required = true };
        var model = new Option<string?>("--model") { Description = "Base model folder (default: the adapter's base_model_name_or_path); only read." };
        var output = new Option<string>("--out") { Description = "New folder to write (must not exist or be empty unless --force; never inside an input).", Required = true };
        var force = Outputs.ForceOption();
        var command = new Command("merge-lora",
            "Merge a LoRA adapter into its base model (W + alpha/r · B A per adapted layer, the adapter's saved modules such as the projector in place): " +
            "the new folder loads, quantizes and serves like any model, at the base model's speed.")
        {
            adapter, model, output, force,
        };
        command.SetAction((parse, _) => CliErrors.RunAsync(() =>
        {
            var adapterDir = parse.GetValue(adapter)!;
            var result = CliProgress.Loading(adapterDir, () => AdapterMerger.Merge(adapterDir, parse.GetValue(model), parse.GetValue(output)!, parse.GetValue(force)));
            Console.WriteLine($"wrote {result.Directory}: {result.MergedLayers} layers merged into {result.BaseDirectory}, {result.ReplacedTensors} tensors replaced");
            if (result.SkippedDirectories.Count > 0) Console.WriteLine($"not copied (subfolders): {string.Join(", ", result.SkippedDirectories)}");
            return Task.FromResult(0);
        }));
        return command;
    }
}
