using System.CommandLine;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Encoders.Audio.Plugin;
using static TorchSharp.torch;

namespace LlavaModal.Cli.Commands;

/// <summary><c>llava-modal encode</c>: runs one image or audio clip through a model's plugin and writes the intermediate tensors.</summary>
static class EncodeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model folder with an image (vision_config) or audio (audio_config) plugin.", Required = true };
        var image = new Option<string?>("--image") { Description = "Image file to encode." };
        var audio = new Option<string?>("--audio") { Description = "WAV or MP3 file to encode." };
        var output = new Option<string>("--out") { Description = "safetensors file to write (float32): pixel_values or input_features, encoder_output, projected (a new file unless --force; never an input).", Required = true };
        var force = Outputs.ForceOption();
        var load = new LoadOptions();
        var command = new Command("encode",
            "Encode one image or audio clip and write its preprocessed input (pixel_values [1, 3, H, W] or input_features [windows, mels, frames]), " +
            "the encoder's output before pooling (encoder_output [1, tokens, width]) and the projector's output (projected [1, tokens, decoder width]).")
        {
            model, image, audio, output, force,
        };
        load.AddTo(command);
        command.SetAction((parse, _) => CliErrors.RunAsync(() =>
        {
            var modelDir = parse.GetValue(model)!;
            var (modality, path) = (parse.GetValue(image), parse.GetValue(audio)) switch
            {
                ({ } i, null) => ("image", i),
                (null, { } a) => ("audio", a),
                _ => throw new ArgumentException("give exactly one of --image or --audio."),
            };
            var outPath = Outputs.File(parse.GetValue(output)!, "--out", parse.GetValue(force), modelDir, path);
            var input = ModalityInput.FromFile(path, modality);

            using var mm = load.LoadModel(parse, modelDir);
            var binding = mm.Modalities.FirstOrDefault(b => b.Encoder.Modality == modality)
                ?? throw new LlavaModalException($"{modelDir}: the model has no {modality} plugin ({(modality == "audio" ? "no audio_config in config.json; attach an encoder with `llava-modal attach-audio`" : "no vision_config in config.json")}).");
            var tensors = Encode(binding, input, mm.Decoder.Device, modality == "audio" ? "input_features" : "pixel_values");
            try
            {
                SafeTensorsWriter.Write(outPath, tensors, new Dictionary<string, string> { ["format"] = "pt", ["modality"] = modality, ["source"] = Path.GetFileName(path) });
                foreach (var (name, t) in tensors) Console.WriteLine($"{name} [{string.Join(", ", t.shape)}]");
            }
            finally
            {
                foreach (var (_, t) in tensors) t.Dispose();
            }
            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>The input, the encoder's unpooled output and the projection, float32 on the CPU, in that order.</summary>
    internal static List<KeyValuePair<string, Tensor>> Encode(ModalityBinding binding, ModalityInput input, Device device, string inputName)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var prepared = binding.Encoder.Prepare(input);
        Tensor encoderOutput, features;
        if (binding.Encoder is WhisperAudioEncoder whisper)
        {
            var detail = whisper.EncodeDetailed(prepared, device);
            (encoderOutput, features) = (detail.EncoderOutput, detail.Features);
        }
        else
        {
            encoderOutput = features = binding.Encoder.Encode(prepared, device);
        }
        var projected = binding.Projector.Project(features);
        Tensor Out(Tensor t) => t.to(ScalarType.Float32).cpu().contiguous().clone().MoveToOuterDisposeScope();
        return
        [
            new(inputName, Out(prepared.Values)),
            new("encoder_output", Out(encoderOutput.unsqueeze(0))),
            new("projected", Out(projected.unsqueeze(0))),
        ];
    }
}
