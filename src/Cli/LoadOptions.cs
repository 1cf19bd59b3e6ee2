using System.CommandLine;
using LlavaModal.Encoders.Audio.Plugin;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Tokenizers.Chat;
using static TorchSharp.torch;

namespace LlavaModal.Cli;

/// <summary>How to load a model: dtype, device, chat template override.</summary>
internal sealed class LoadOptions
{
    readonly Option<string?> dtype = new("--dtype") { Description = "Compute dtype: f32, bf16 or f16 (default: as the checkpoint's torch_dtype)." };
    readonly Option<string> device = new("--device") { Description = "cpu (default), cuda or cuda:N (needs the CUDA build).", DefaultValueFactory = _ => "cpu" };
    readonly Option<string?> template = new("--chat-template") { Description = "Override the detected chat template: vicuna_v1, llama2, llama3, chatml." };
    readonly Option<bool> noPad = new("--no-pad") { Description = "Do not pad images to a square before resizing (LLaVA-1.5 pads; without padding the centre crop cuts the sides)." };

    public void AddTo(Command command)
    {
        command.Options.Add(dtype);
        command.Options.Add(device);
        command.Options.Add(template);
        command.Options.Add(noPad);
    }

    /// <summary>Loads a model folder with every built-in modality plugin.</summary>
    public MultimodalModel LoadModel(ParseResult parse, string directory) =>
        MultimodalModel.Load(directory, [new LlavaVisionFactory(new LlavaVisionOptions { PadToSquare = !parse.GetValue(noPad) }), new AudioEncoderFactory()], Read(parse));

    public ModelLoadOptions Read(ParseResult parse) => new()
    {
        DType = parse.GetValue(dtype) is { } d ? ParseDType(d, "--dtype") : null,
        Device = parse.GetValue(device)!,
        ChatTemplate = parse.GetValue(template),
    };

    public static ScalarType ParseDType(string value, string option) => value switch
    {
        "f32" or "float32" => ScalarType.Float32,
        "bf16" or "bfloat16" => ScalarType.BFloat16,
        "f16" or "float16" => ScalarType.Float16,
        _ => throw new ArgumentException($"{option} '{value}' is not one of f32, bf16, f16."),
    };
}
