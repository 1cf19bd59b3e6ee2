using System.CommandLine;
using LlavaModal.Cli;
using LlavaModal.Cli.Commands;

// What the other assemblies' module initialisers do, first, so no command can reach TorchSharp before it (it also sets
// the native defaults libtorch and OpenMP read once when they load: passive OpenMP waiting, huge pages).
LlavaModal.Core.Native.TorchNativeRuntime.EnsureLoadable();

var root = new RootCommand("llava-modal: run LLaMA and LLaVA checkpoints (Hugging Face layout) on TorchSharp.")
{
    GenerateCommand.Create(),
    ChatCommand.Create(),
    InitCommand.Create(),
    AttachAudioCommand.Create(),
    EncodeCommand.Create(),
    TrainCommand.Create(),
    EvalCommand.Create(),
    QuantizeCommand.Create(),
    MergeLoraCommand.Create(),
    SynthCommand.Create(),
    RecipeCommand.Create(),
    ServeCommand.Create(),
};
// No command at all: the list of commands, as bad usage.
if (args.Length == 0)
{
    await root.Parse(["--help"]).InvokeAsync().ConfigureAwait(false);
    return CliErrors.Usage;
}
var parse = root.Parse(args);
// Bad usage: the parser's own messages and where to read more, exit code 2 (the full help would bury the message).
if (parse.Errors.Count > 0) return CliErrors.UsageError(parse);
return await parse.InvokeAsync().ConfigureAwait(false);
