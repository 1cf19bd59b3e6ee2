using System.CommandLine;
using System.Text.Json;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Decoder.Generation;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tokenizers.Chat;

namespace LlavaModal.Cli.Commands;

/// <summary><c>llava-modal generate</c>: one prompt (with images) in, generated text out (streamed, or as JSON).</summary>
static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Model folder in Hugging Face layout (LLaMA or LLaVA: config.json, safetensors, tokenizer files); default: the shipped toy model, models/llava-modal-toy." };
        var prompt = new Option<string>("--prompt") { Description = "The prompt (a user message, or verbatim text with --raw).", Required = true };
        var images = new Option<string[]>("--image") { Description = "Image file (repeatable); spliced where <image> stands, else put before the prompt on its own line." };
        var video = new VideoOptions();
        var audio = new Option<string[]>("--audio") { Description = "Audio clip, WAV or MP3 (repeatable; needs a model with an attached audio encoder); spliced where <audio> stands." };
        var raw = new Option<bool>("--raw") { Description = "Tokenise the prompt verbatim instead of applying the chat template (BOS is still added as the tokenizer config says)." };
        var system = new Option<string?>("--system") { Description = "System message replacing the chat template's default." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object: prompt_ids, generated_ids, text, finish_reason, prompt_tokens, completion_tokens, inputs (per media input: modality, source, start, tokens), prefill_ms, decode_tokens_per_s." };
        var logitsOut = new Option<string?>("--logits-out") { Description = "Write the prompt's forward-pass logits [positions, vocab] (float32, tensor 'logits'; image positions included) to this safetensors file (a new file unless --force; never an input)." };
        var force = Outputs.ForceOption();
        var sampling = new SamplingOptions();
        var load = new LoadOptions();

        var command = new Command("generate", "Generate a reply to a prompt, optionally about images, videos and audio.") { model, prompt, images, audio, raw, system, json, logitsOut, force };
        video.AddTo(command);
        sampling.AddTo(command);
        load.AddTo(command);
        command.SetAction((parse, cancellation) => CliErrors.RunAsync(async () =>
        {
            var options = sampling.Read(parse);
            var modelDir = DefaultModel.Resolve(parse.GetValue(model));
            string[] imagePaths = parse.GetValue(images) ?? [], videoPaths = video.Paths(parse), audioPaths = parse.GetValue(audio) ?? [];
            var videoOptions = video.Plugin(parse);
            // Checked before anything is read or loaded: the logits never replace the model, a medium or an existing file.
            var logitsPath = parse.GetValue(logitsOut) is { } requested
                ? Outputs.File(requested, "--logits-out", parse.GetValue(force), [modelDir, .. imagePaths, .. videoPaths, .. audioPaths])
                : null;
            var inputs = imagePaths.Select(path => ModalityInput.FromFile(path, "image"))
                .Concat(video.Inputs(parse))
                .Concat(audioPaths.Select(path => ModalityInput.FromFile(path, "audio"))).ToList();
            using var mm = load.LoadModel(parse, modelDir, videoOptions);
            var text = parse.GetValue(prompt)!;
            MultimodalPrompt request;
            if (parse.GetValue(raw))
            {
                if (parse.GetValue(system) is not null)
                    throw new ArgumentException("--system applies to the chat template; it cannot be combined with --raw.");
                request = new MultimodalPrompt(text, inputs);
            }
            else
            {
                var messages = new List<ChatTurn>();
                if (parse.GetValue(system) is { } sys) messages.Add(new ChatTurn(TurnRole.System, sys));
                messages.Add(new ChatTurn(TurnRole.User, text));
                request = mm.RenderChat(messages, inputs);
            }

            if (logitsPath is not null)
            {
                var (logits, _, _) = mm.PromptLogits(request);
                using (logits) SafeTensorsWriter.Write(logitsPath, [new("logits", logits)]);
            }

            if (parse.GetValue(json))
            {
                PromptLayout? layout = null;
                var result = mm.Generate(request, options, cancellation, prepared => layout = prepared);
                Console.WriteLine(JsonSerializer.Serialize(ToJson(result, layout!), JsonOutput));
                return 0;
            }
            await foreach (var chunk in mm.GenerateStreamingAsync(request, options, cancellation).ConfigureAwait(false))
                Console.Write(chunk.Text);
            Console.WriteLine();
            return 0;
        }));
        return command;
    }

    static readonly JsonSerializerOptions JsonOutput = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    internal static Dictionary<string, object> ToJson(GenerationResult r, PromptLayout layout) => new()
    {
        ["prompt_ids"] = r.PromptIds,
        ["generated_ids"] = r.GeneratedIds,
        ["text"] = r.Text,
        ["finish_reason"] = r.FinishReason switch { FinishReason.Stop => "stop", FinishReason.Length => "length", _ => "cancelled" },
        ["prompt_tokens"] = r.PromptTokens,
        ["completion_tokens"] = r.CompletionTokens,
        // Known before encoding: what each image or clip costs of the context.
        ["inputs"] = layout.Inputs.Select(i => new Dictionary<string, object> { ["modality"] = i.Modality, ["source"] = i.Source, ["start"] = i.Start, ["tokens"] = i.Tokens }).ToList(),
        ["prefill_ms"] = Math.Round(r.Prefill.TotalMilliseconds, 3),
        ["decode_tokens_per_s"] = Math.Round(r.DecodeTokensPerSecond, 3),
    };
}
