using System.CommandLine;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Core.Kernels;
using LlavaModal.Decoder.Generation;
using LlavaModal.Encoders.Audio.Plugin;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;

namespace LlavaModal.Cli;

/// <summary>How to load a model: dtype, weight format, device, chat template override, attention kernel, KV cache dtype, image padding.</summary>
sealed class LoadOptions
{
    readonly Option<string?> dtype = new("--dtype") { Description = $"Compute dtype: {DTypes.Accepted} (default: as the checkpoint's torch_dtype)." };
    readonly Option<string?> weights = WeightsOption();
    readonly Option<string> device = new("--device") { Description = "cpu (default), cuda or cuda:N (needs the CUDA build).", DefaultValueFactory = _ => "cpu" };
    readonly Option<string?> template = new("--chat-template") { Description = "Override the detected chat template: vicuna_v1, llama2, llama3, chatml." };
    readonly Option<string> attention = new("--attention") { Description = "Attention kernel: eager (default; the reference's arithmetic) or sdpa (libtorch's fused kernel).", DefaultValueFactory = _ => "eager" };
    readonly Option<string?> kvCache = new("--kv-cache") { Description = "KV cache dtype: f16 or bf16 store keys and values in 16 bits while the model computes in --dtype (half the cache memory), f32 (default: the model's dtype)." };
    readonly Option<bool> noPad = new("--no-pad") { Description = "Do not pad images to a square before resizing (LLaVA-1.5 pads; without padding the centre crop cuts the sides)." };
    readonly Option<string?> adapter = new("--adapter") { Description = "LoRA adapter folder (PEFT layout) merged into the weights as they load (an adapter folder given as --model loads with the base it names)." };
    readonly Option<int> threads = TorchThreads.Option();
    readonly Option<int?> prefillChunk = new("--prefill-chunk-tokens") { Description = $"Most prompt positions computed in one forward (default {GenerationEngine.DefaultPrefillChunkTokens}): longer prompts are prefilled in pieces, so their memory grows with the piece, not the prompt." };
    readonly Option<int?> maxContext = new("--max-context-tokens") { Description = $"Most positions of a request, prompt (media included) and answer together (default: the model's max_position_embeddings, at most {ModelLimits.DefaultContextCap}); generation stops when it is reached." };

    /// <summary>The <c>--weights</c> option (also used by commands that take no other load option, such as <c>eval</c>).</summary>
    public static Option<string?> WeightsOption() => new("--weights")
    {
        Description = "Weight format of the decoder's linear layers on LlavaModal's CPU kernels: f32, bf16, f16, int8 or int4 " +
            "(packed as the checkpoint is read; default: torch layers in --dtype, or the format of a folder written by `quantize`).",
    };

    /// <exception cref="ArgumentException">A name that is no weight format.</exception>
    public static WeightFormat? ParseWeights(string? name) =>
        name is null ? null : WeightFormats.Parse(name) ?? throw new ArgumentException($"--weights '{name}' is not a weight format (f32, bf16, f16, int8, int4).");

    public void AddTo(Command command)
    {
        command.Options.Add(dtype);
        command.Options.Add(weights);
        command.Options.Add(adapter);
        command.Options.Add(device);
        command.Options.Add(template);
        command.Options.Add(attention);
        command.Options.Add(kvCache);
        command.Options.Add(noPad);
        command.Options.Add(maxContext);
        command.Options.Add(prefillChunk);
        command.Options.Add(threads);
    }

    /// <summary>Loads a model folder with every built-in modality plugin (image and video, and audio when the folder has an encoder attached).</summary>
    /// <param name="parse">The command line.</param>
    /// <param name="directory">The model folder.</param>
    /// <param name="video">The video plugins' options (<c>--video-frames</c>, <c>--ffmpeg</c>), or null for the defaults.</param>
    public MultimodalModel LoadModel(ParseResult parse, string directory, Encoders.Vision.Video.VideoOptions? video = null)
    {
        TorchThreads.Set(parse.GetValue(threads));
        var options = ReadOnly(parse);
        var vision = new LlavaVisionOptions { PadToSquare = !parse.GetValue(noPad), Video = video ?? new Encoders.Vision.Video.VideoOptions() };
        return CliProgress.Loading(directory, () => MultimodalModel.Load(directory, [new LlavaVisionFactory(vision), new AudioEncoderFactory()], options));
    }

    /// <summary>The load options; also applies <c>--threads</c> (for commands that load through something else, such as <c>serve</c>).</summary>
    public ModelLoadOptions Read(ParseResult parse)
    {
        TorchThreads.Set(parse.GetValue(threads));
        return ReadOnly(parse);
    }

    ModelLoadOptions ReadOnly(ParseResult parse) => new()
    {
        DType = parse.GetValue(dtype) is { } d ? DTypes.Parse(d, "--dtype") : null,
        Weights = ParseWeights(parse.GetValue(weights)),
        Adapter = parse.GetValue(adapter),
        Device = parse.GetValue(device)!,
        ChatTemplate = parse.GetValue(template),
        Attention = parse.GetValue(attention)!,
        KvCache = parse.GetValue(kvCache) is { } c ? DTypes.Parse(c, "--kv-cache") : null,
        Limits = new ModelLimits
        {
            MaxContextTokens = parse.GetValue(maxContext) is int n ? (n >= 1 ? n : throw new ArgumentException($"--max-context-tokens must be at least 1, got {n}.")) : null,
            PrefillChunkTokens = parse.GetValue(prefillChunk) is int p ? (p >= 1 ? p : throw new ArgumentException($"--prefill-chunk-tokens must be at least 1, got {p}.")) : null,
        },
    };
}
