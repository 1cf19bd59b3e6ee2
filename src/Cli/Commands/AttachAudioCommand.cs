using System.CommandLine;
using LlavaModal.Encoders.Audio.Plugin;

namespace LlavaModal.Cli.Commands;

/// <summary><c>llava-modal attach-audio</c>: writes a new model folder with a Whisper encoder and a fresh projector attached.</summary>
static class AttachAudioCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "LLaVA-style or LLaMA model folder (Hugging Face layout); only read.", Required = true };
        var encoder = new Option<string>("--encoder") { Description = "Hugging Face Whisper folder (WhisperModel or WhisperForConditionalGeneration); only its encoder is used.", Required = true };
        var output = new Option<string>("--out") { Description = "New folder to write (must not exist or be empty unless --force; never inside an input).", Required = true };
        var force = Outputs.ForceOption();
        var projector = new Option<string>("--projector") { Description = "Projector type: mlp2x_gelu (default) or linear.", DefaultValueFactory = _ => AudioEncoderFactory.DefaultProjectorType };
        var pool = new Option<bool>("--pool") { Description = "Average-pool the encoder's output to half the tokens (750 per 30 s instead of 1500), as Qwen2-Audio does." };
        var seed = new Option<long>("--seed") { Description = "Seed of the projector's initial weights.", DefaultValueFactory = _ => 0 };
        var command = new Command("attach-audio",
            "Attach a Whisper audio encoder to a model: writes a new folder with the model's files, audio_config, the encoder as audio_tower.* and a freshly initialised projector audio_projector.* (train it before expecting meaningful answers).")
        {
            model, encoder, output, projector, pool, seed, force,
        };
        command.SetAction((parse, _) => CliErrors.RunAsync(() =>
        {
            var modelDir = parse.GetValue(model)!;
            var encoderDir = parse.GetValue(encoder)!;
            var dir = parse.GetValue(output)!;
            Outputs.Folder(dir, "--out", parse.GetValue(force), modelDir, encoderDir);
            var result = AudioAttacher.Attach(modelDir, encoderDir, dir, new AttachAudioOptions
            {
                ProjectorType = parse.GetValue(projector)!,
                AveragePool = parse.GetValue(pool),
                Seed = parse.GetValue(seed),
                Overwrite = parse.GetValue(force),
            });
            var e = result.Encoder;
            Console.WriteLine($"wrote {dir}: Whisper encoder ({e.EncoderLayers} layers, d_model {e.DModel}, {result.EncoderParameters / 1e6:F2}M parameters from '{result.EncoderTensorPrefix}*') " +
                $"as audio_tower.*, {parse.GetValue(projector)} projector {e.DModel} -> {result.DecoderHiddenSize} ({result.ProjectorParameters / 1e6:F2}M parameters, untrained) as audio_projector.*; " +
                $"{e.TokensPerWindow} tokens per 30 s of audio");
            if (result.SkippedDirectories.Count > 0)
                Console.WriteLine($"not copied (subfolders): {string.Join(", ", result.SkippedDirectories)}");
            return Task.FromResult(0);
        }));
        return command;
    }
}
