using System.Text.Json.Nodes;
using LlavaModal.Cli;
using LlavaModal.Cli.Commands;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Modules;
using LlavaModal.Decoder.Llama;
using LlavaModal.Encoders.Vision.Clip;
using static TorchSharp.torch;

namespace LlavaModal.Benchmarks;

/// <summary>Random-weight checkpoints written with <c>llava-modal init</c>'s writer, reused across runs when complete.</summary>
static class Checkpoints
{
    const string CompleteMarker = ".bench-complete";

    /// <summary>
    /// Returns <c>root/name</c>, writing it first unless a previous run finished it. Writes go to a temporary
    /// sibling that is renamed at the end, so an interrupted write is never mistaken for a checkpoint.
    /// </summary>
    public static string Ensure(string root, string name, string preset, ScalarType dtype, long maxShardBytes = long.MaxValue, long seed = 0)
    {
        if (!Presets.Llama.TryGetValue(preset, out var config))
            throw new ArgumentException($"unknown preset '{preset}' (known: {Presets.Names}).");
        return Ensure(root, name, preset, config, dtype, maxShardBytes, seed);
    }

    /// <summary>
    /// The decoder of the 69.5M-parameter LLaVA shape that issue 12 measures (CLIP 6 x 384 plus this LLaMA, 8 layers of
    /// 512): 58.5M parameters. Decode runs only the decoder, so the tower is left out.
    /// </summary>
    public static readonly LlamaConfig Llava70mDecoder = new()
    {
        VocabSize = 32000, HiddenSize = 512, IntermediateSize = 1376, NumHiddenLayers = 8, NumAttentionHeads = 8, NumKeyValueHeads = 8,
        HeadDim = 64, RmsNormEps = 1e-5, MaxPositionEmbeddings = 2048,
    };

    /// <summary>As <see cref="Ensure(string, string, string, ScalarType, long, long)"/> for a shape given as a config (<paramref name="label"/> names it in messages).</summary>
    public static string Ensure(string root, string name, string label, LlamaConfig config, ScalarType dtype, long maxShardBytes = long.MaxValue, long seed = 0)
    {
        var dir = Path.Combine(root, name);
        if (File.Exists(Path.Combine(dir, CompleteMarker))) return dir;
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        var partial = dir + ".partial-" + Environment.ProcessId;
        Directory.CreateDirectory(root);
        Console.Error.WriteLine($"writing {label} ({dtype}) checkpoint to {dir} ...");
        InitCommand.Write(partial, config with { TorchDType = dtype }, seed, maxShardBytes);
        File.WriteAllText(Path.Combine(partial, CompleteMarker), "");
        Directory.Move(partial, dir);
        return dir;
    }

    /// <summary>
    /// The 69.5M-parameter LLaVA-1.5 shape issue 12 measures: a CLIP tower of 6 layers of 384 (224 px, 14 px patches:
    /// 256 image tokens from the second-to-last layer, as llava-1.5) and the <c>mlp2x_gelu</c> projector, both random,
    /// on <see cref="Llava70mDecoder"/> (<see cref="EnsureLlava70m"/> writes the whole model).
    /// </summary>
    public static readonly ClipVisionConfig Llava70mTower = new()
    {
        HiddenSize = 384, IntermediateSize = 1536, NumHiddenLayers = 6, NumAttentionHeads = 6, ImageSize = 224, PatchSize = 14,
    };

    /// <summary>
    /// Returns <c>root/llava-70m-f32</c>, the LLaVA of <see cref="Llava70mTower"/> on the weights of the decoder in
    /// <paramref name="decoderFolder"/> (so that decoder's GGUF files are this model's language model), writing it first;
    /// the tokenizer is the llava-tiny-a fixture's (<c>&lt;image&gt;</c> is id 510).
    /// </summary>
    public static string EnsureLlava70m(string root, string decoderFolder)
    {
        var dir = Path.Combine(root, "llava-70m-f32");
        if (File.Exists(Path.Combine(dir, CompleteMarker))) return dir;
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        var partial = dir + ".partial-" + Environment.ProcessId;
        Directory.CreateDirectory(partial);
        Console.Error.WriteLine($"writing the 69.5M LLaVA checkpoint to {dir} ...");
        var fixture = Path.Combine(Report.RepositoryRoot(), "tests", "fixtures", "llava-tiny-a");
        foreach (var file in new[] { "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "generation_config.json" })
            File.Copy(Path.Combine(fixture, file), Path.Combine(partial, file));
        var textConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(decoderFolder, "config.json")))!;
        var tower = Llava70mTower;
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("LlavaForConditionalGeneration"),
            ["model_type"] = "llava",
            ["image_token_index"] = 510,
            ["pad_token_id"] = 511,
            ["projector_hidden_act"] = "gelu",
            ["vision_feature_layer"] = -2,
            ["vision_feature_select_strategy"] = "default",
            ["tie_word_embeddings"] = false,
            ["torch_dtype"] = "float32",
            ["text_config"] = textConfig,
            ["vision_config"] = new JsonObject
            {
                ["model_type"] = ClipVisionConfig.ModelTypeName, ["hidden_size"] = tower.HiddenSize, ["intermediate_size"] = tower.IntermediateSize,
                ["num_hidden_layers"] = tower.NumHiddenLayers, ["num_attention_heads"] = tower.NumAttentionHeads, ["image_size"] = tower.ImageSize,
                ["patch_size"] = tower.PatchSize, ["hidden_act"] = tower.HiddenAct, ["layer_norm_eps"] = tower.LayerNormEps,
            },
        };
        File.WriteAllText(Path.Combine(partial, "config.json"), config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        var preprocessor = new JsonObject
        {
            ["crop_size"] = new JsonObject { ["height"] = tower.ImageSize, ["width"] = tower.ImageSize },
            ["size"] = new JsonObject { ["shortest_edge"] = tower.ImageSize },
            ["do_center_crop"] = true, ["do_convert_rgb"] = true, ["do_normalize"] = true, ["do_rescale"] = true, ["do_resize"] = true,
            ["image_mean"] = new JsonArray(0.48145466, 0.4578275, 0.40821073), ["image_std"] = new JsonArray(0.26862954, 0.26130258, 0.27577711),
            ["image_processor_type"] = "CLIPImageProcessor", ["processor_class"] = "LlavaProcessor", ["resample"] = 3, ["rescale_factor"] = 1 / 255.0,
        };
        File.WriteAllText(Path.Combine(partial, "preprocessor_config.json"), preprocessor.ToJsonString());

        using var scope = NewDisposeScope();
        manual_seed(1);
        using var vision = new ClipVisionModel(tower);
        using var projector = Projectors.Create("mlp2x_gelu", tower.HiddenSize, (int)textConfig["hidden_size"]!);
        using var decoder = SafeTensorsCheckpoint.Open(decoderFolder);
        var tensors = vision.state_dict().Select(p => KeyValuePair.Create("vision_tower." + p.Key, p.Value))
            .Concat(projector.state_dict().Select(p => KeyValuePair.Create("multi_modal_projector." + p.Key, p.Value)))
            .Concat(decoder.Names.Select(n => KeyValuePair.Create("language_model." + n, decoder.Read(n))))
            .ToList();
        SafeTensorsWriter.Write(Path.Combine(partial, "model.safetensors"), tensors);
        File.WriteAllText(Path.Combine(partial, CompleteMarker), "");
        Directory.Move(partial, dir);
        return dir;
    }

    /// <summary>Bytes of the safetensors files (weights only).</summary>
    public static long WeightBytes(string dir) =>
        Directory.EnumerateFiles(dir, "*.safetensors").Sum(f => new FileInfo(f).Length);

    public static int ShardCount(string dir) => Directory.EnumerateFiles(dir, "*.safetensors").Count();

    public static LlamaConfig Config(string dir) => LlamaConfig.Load(Path.Combine(dir, "config.json"));

    public static bool IsCheckpoint(string dir) => SafeTensorsCheckpoint.Exists(dir);
}
