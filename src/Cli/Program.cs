using System.CommandLine;
using LlavaModal.Cli.Commands;

var root = new RootCommand("llava-modal: run LLaMA and LLaVA checkpoints (Hugging Face layout) on TorchSharp.")
{
    GenerateCommand.Create(),
    ChatCommand.Create(),
    InitCommand.Create(),
    AttachAudioCommand.Create(),
    EncodeCommand.Create(),
    TrainCommand.Create(),
    EvalCommand.Create(),
    SynthCommand.Create(),
    RecipeCommand.Create(),
    ServeCommand.Create(),
};
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
