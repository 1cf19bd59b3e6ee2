using System.CommandLine;
using System.Text.Json;
using LlavaModal.Checkpoints;
using LlavaModal.Decoder;
using LlavaModal.Decoder.Chat;
using LlavaModal.Decoder.Generation;

namespace LlavaModal.Cli.Commands;

/// <summary><c>llava-modal generate</c>: one prompt in, generated text out (streamed, or as JSON).</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model folder in Hugging Face layout (config.json, safetensors, tokenizer files).", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "The prompt (a user message, or verbatim text with --raw).", Required = true };
        var raw = new Option<bool>("--raw") { Description = "Tokenise the prompt verbatim instead of applying the chat template (BOS is still added as the tokenizer config says)." };
        var system = new Option<string?>("--system") { Description = "System message replacing the chat template's default." };
        var sampling = new SamplingOptions();
        var json = new Option<bool>("--json") { Description = "Print one JSON object: prompt_ids, generated_ids, text, finish_reason, prompt_tokens, completion_tokens, prefill_ms, decode_tokens_per_s." };
        var logitsOut = new Option<string?>("--logits-out") { Description = "Write the prompt's forward-pass logits [prompt length, vocab] (float32, tensor 'logits') to this safetensors file." };
        var load = new LoadOptions();

        var command = new Command("generate", "Generate a reply to a prompt.") { model, prompt, raw, system, json, logitsOut };
        sampling.AddTo(command);
        load.AddTo(command);
        command.SetAction((parse, cancellation) => CliErrors.RunAsync(async () =>
        {
            var options = sampling.Read(parse);
            using var lm = LanguageModel.Load(parse.GetValue(model)!, load.Read(parse));
            var text = parse.GetValue(prompt)!;
            if (!parse.GetValue(raw))
            {
                var messages = new List<ChatMessage>();
                if (parse.GetValue(system) is { } sys) messages.Add(new ChatMessage(ChatRole.System, sys));
                messages.Add(new ChatMessage(ChatRole.User, text));
                text = lm.RenderChat(messages);
            }
            else if (parse.GetValue(system) is not null)
            {
                throw new ArgumentException("--system applies to the chat template; it cannot be combined with --raw.");
            }

            if (parse.GetValue(logitsOut) is { } logitsPath)
                WriteLogits(lm, text, logitsPath, parse.GetValue(model)!);

            if (parse.GetValue(json))
            {
                var result = lm.Generate(text, options, cancellation);
                Console.WriteLine(JsonSerializer.Serialize(ToJson(result), JsonOutput));
                return 0;
            }
            await foreach (var chunk in lm.GenerateStreamingAsync(text, options, cancellation).ConfigureAwait(false))
                Console.Write(chunk.Text);
            Console.WriteLine();
            return 0;
        }));
        return command;
    }

    static readonly JsonSerializerOptions JsonOutput = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    internal static Dictionary<string, object> ToJson(GenerationResult r) => new()
    {
        ["prompt_ids"] = r.PromptIds,
        ["generated_ids"] = r.GeneratedIds,
        ["text"] = r.Text,
        ["finish_reason"] = r.FinishReason switch { FinishReason.Stop => "stop", FinishReason.Length => "length", _ => "cancelled" },
        ["prompt_tokens"] = r.PromptTokens,
        ["completion_tokens"] = r.CompletionTokens,
        ["prefill_ms"] = Math.Round(r.Prefill.TotalMilliseconds, 3),
        ["decode_tokens_per_s"] = Math.Round(r.DecodeTokensPerSecond, 3),
    };

    static void WriteLogits(LanguageModel lm, string text, string path, string modelDir)
    {
        OutputGuard.RefuseInsideInput(path, modelDir, "--logits-out");
        using var logits = lm.PromptLogits(lm.Tokenizer.Encode(text));
        SafeTensorsWriter.Write(path, [new("logits", logits)]);
    }
}
