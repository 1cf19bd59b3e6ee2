using System.CommandLine;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Tokenizers.Chat;

namespace LlavaModal.Cli.Commands;

/// <summary>
/// <c>llava-modal chat</c>: a multi-turn conversation read line by line from standard input until end of input or an
/// empty line; one <c>--image</c> and any <c>--video</c> are attached to the first turn and the whole history is sent with every turn.
/// Works interactively and with piped input (<c>printf 'What color is the circle?\nHow many objects are there?\n' | llava-modal chat --image x.png</c>).
/// </summary>
static class ChatCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Model folder in Hugging Face layout (default: the shipped toy model, models/llava-modal-toy)." };
        var image = new Option<string?>("--image") { Description = "Image file attached to the first turn." };
        var system = new Option<string?>("--system") { Description = "System message replacing the chat template's default." };
        var video = new VideoOptions();
        var sampling = new SamplingOptions();
        var load = new LoadOptions();
        var command = new Command("chat", "Chat with a model: one user turn per line of standard input, until end of input or an empty line; the history is kept.") { model, image, system };
        video.AddTo(command);
        sampling.AddTo(command);
        load.AddTo(command);
        command.SetAction((parse, cancellation) => CliErrors.RunAsync(async () =>
        {
            var options = sampling.Read(parse);
            var modelDir = DefaultModel.Resolve(parse.GetValue(model));
            var inputs = parse.GetValue(image) is { } path ? new List<ModalityInput> { ModalityInput.FromFile(path, "image") } : [];
            inputs.AddRange(video.Inputs(parse));
            using var mm = load.LoadModel(parse, modelDir, video.Plugin(parse));
            var messages = new List<ChatTurn>();
            if (parse.GetValue(system) is { } sys) messages.Add(new ChatTurn(TurnRole.System, sys));
            bool interactive = !Console.IsInputRedirected;
            while (true)
            {
                if (interactive) Console.Write("> ");
                var line = Console.ReadLine();
                if (string.IsNullOrWhiteSpace(line)) break;
                messages.Add(new ChatTurn(TurnRole.User, line.Trim()));
                var request = mm.RenderChat(messages, inputs);
                var reply = new System.Text.StringBuilder();
                await foreach (var chunk in mm.GenerateStreamingAsync(request, options, cancellation).ConfigureAwait(false))
                {
                    Console.Write(chunk.Text);
                    reply.Append(chunk.Text);
                }
                Console.WriteLine();
                messages.Add(new ChatTurn(TurnRole.Assistant, reply.ToString().Trim()));
            }
            return 0;
        }));
        return command;
    }
}
