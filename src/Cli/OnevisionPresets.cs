using System.Text.Json;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Core.Attention;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Modules;
using LlavaModal.Decoder.Qwen2;
using LlavaModal.Encoders.Vision.Siglip;
using LlavaModal.Multimodal.Loading;
using LlavaModal.Tokenizers;
using static TorchSharp.torch;

namespace LlavaModal.Cli;

/// <summary>
/// LLaVA-OneVision shapes for <c>llava-modal init</c> (SigLIP tower, 2-layer GELU projector, <c>image_newline</c>, Qwen2
/// decoder, AnyRes-max-9 over a 6x6 grid of tiles), written as a llava-hf folder with random weights: the
/// prefill and decode speed of the real checkpoints, measured without downloading them. The tokenizer is the small
/// SentencePiece one the CLI ships, so the text is random; the vocabulary size is the real one.
/// </summary>
static class OnevisionPresets
{
    /// <summary>A preset: the tower, the decoder and the tile side of the AnyRes grid.</summary>
    public sealed record Shape(SiglipVisionConfig Vision, Qwen2Config Text);

    public static readonly IReadOnlyDictionary<string, Shape> All = new Dictionary<string, Shape>(StringComparer.Ordinal)
    {
        // llava-onevision-qwen2-0.5b: SigLIP-so400m (26 of its 27 layers, 384 px, 14 px patches: 729 tokens a tile) + Qwen2-0.5B.
        ["onevision-0.5b"] = new(
            new SiglipVisionConfig { HiddenSize = 1152, IntermediateSize = 4304, NumHiddenLayers = 26, NumAttentionHeads = 16, ImageSize = 384, PatchSize = 14, VisionUseHead = false },
            new Qwen2Config
            {
                VocabSize = 151936, HiddenSize = 896, IntermediateSize = 4864, NumHiddenLayers = 24, NumAttentionHeads = 14, NumKeyValueHeads = 2, HeadDim = 64,
                RmsNormEps = 1e-6, RopeTheta = 1e6, MaxPositionEmbeddings = 32768, TieWordEmbeddings = true, BosTokenId = 1, EosTokenIds = [2],
            }),
        // The same layout at test size (loads and answers in a second).
        ["onevision-tiny"] = new(
            new SiglipVisionConfig { HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 2, ImageSize = 32, PatchSize = 8, VisionUseHead = false },
            new Qwen2Config
            {
                VocabSize = 600, HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2, HeadDim = 16,
                RmsNormEps = 1e-6, RopeTheta = 1e6, MaxPositionEmbeddings = 4096, TieWordEmbeddings = true, BosTokenId = 1, EosTokenIds = [2],
            }),
    };

    /// <summary>Parameters of a preset (tower, projector, newline and decoder).</summary>
    public static long Parameters(Shape shape) => Specs(shape, ScalarType.Float32).Sum(s => s.Shape.Aggregate(1L, (a, b) => a * b));

    static List<TensorSpec> Specs(Shape shape, ScalarType dtype)
    {
        var meta = new ModelBuildContext(dtype, device("meta"), TorchLinearFactory.Instance, new EagerAttention());
        var specs = new List<TensorSpec>();
        using (var tower = new SiglipVisionModel(shape.Vision, new FeatureSelection([-1], "full"), meta))
            specs.AddRange(tower.named_parameters().Select(p => new TensorSpec("vision_tower." + p.name, p.parameter.shape, dtype)));
        using (var projector = Projectors.Create("mlp2x_gelu", shape.Vision.HiddenSize, shape.Text.HiddenSize, dtype: dtype, device: device("meta")))
            specs.AddRange(projector.named_parameters().Select(p => new TensorSpec("multi_modal_projector." + p.name, p.parameter.shape, dtype)));
        specs.Add(new TensorSpec("image_newline", [shape.Text.HiddenSize], dtype));
        var family = BuiltInArchitectures.Catalog.FindDecoder(shape.Text.ModelType)!;
        using (var decoder = family.Create(shape.Text, meta))
            specs.AddRange(decoder.named_parameters().Select(p => new TensorSpec("language_model." + p.name, p.parameter.shape, dtype)));
        return specs;
    }

    /// <summary>Writes the folder: weights (norms at one, biases at zero, the rest ~ N(0, 0.02)), config, processor configs and tokenizer.</summary>
    public static void Write(string dir, Shape shape, ScalarType dtype, long seed, long maxShardBytes, Action<long>? written = null)
    {
        Directory.CreateDirectory(dir);
        Assets.CopyTokenizer(dir);
        // The shipped tokenizer has <image>; <video> is added after it, as the loader adds missing placeholders.
        var tokenizer = HfTokenizer.FromPretrained(dir);
        int next = tokenizer.VocabSize;
        int image = tokenizer.TokenToId("<image>") ?? next++, video = tokenizer.TokenToId("<video>") ?? next;
        var text = shape.Text with { TorchDType = dtype, PadTokenId = 0 };
        var generator = new Generator((ulong)seed);
        long made = 0;
        SafeTensorsWriter.WriteCheckpoint(dir, Specs(shape with { Text = text }, dtype), spec =>
        {
            written?.Invoke(made);
            made += spec.ByteCount;
            if (spec.Name.EndsWith("norm.weight", StringComparison.Ordinal) || spec.Name.EndsWith("layernorm.weight", StringComparison.Ordinal) || spec.Name.EndsWith("layer_norm1.weight", StringComparison.Ordinal) || spec.Name.EndsWith("layer_norm2.weight", StringComparison.Ordinal))
                return ones(spec.Shape, spec.Type);
            if (spec.Name.EndsWith(".bias", StringComparison.Ordinal)) return zeros(spec.Shape, spec.Type);
            using var values = normal(0, 0.02, spec.Shape, generator: generator);
            return values.to(spec.Type);
        }, maxShardBytes);

        int tile = shape.Vision.ImageSize;
        var pinpoints = Enumerable.Range(1, 6).SelectMany(h => Enumerable.Range(1, 6).Select(w => new[] { h * tile, w * tile })).ToArray();
        var textJson = text.ToJsonObject();
        var config = new Dictionary<string, object?>
        {
            ["architectures"] = new[] { "LlavaOnevisionForConditionalGeneration" },
            ["model_type"] = "llava_onevision",
            ["image_token_index"] = image,
            ["video_token_index"] = video,
            ["image_grid_pinpoints"] = pinpoints,
            ["projector_hidden_act"] = "gelu",
            ["text_config"] = textJson,
            ["vision_config"] = shape.Vision.ToJsonObject(),
            ["tie_word_embeddings"] = text.TieWordEmbeddings,
            ["torch_dtype"] = textJson["torch_dtype"],
            ["vision_aspect_ratio"] = "anyres_max_9",
            ["vision_feature_layer"] = -1,
            ["vision_feature_select_strategy"] = "full",
        };
        var indented = new JsonSerializerOptions { WriteIndented = true };
        File.WriteAllText(Path.Combine(dir, "config.json"), JsonSerializer.Serialize(config, indented));
        File.WriteAllText(Path.Combine(dir, "preprocessor_config.json"), JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["do_convert_rgb"] = true, ["do_normalize"] = true, ["do_pad"] = true, ["do_rescale"] = true, ["do_resize"] = true,
            ["image_grid_pinpoints"] = pinpoints, ["image_mean"] = new[] { 0.5, 0.5, 0.5 }, ["image_std"] = new[] { 0.5, 0.5, 0.5 },
            ["image_processor_type"] = "LlavaOnevisionImageProcessor", ["processor_class"] = "LlavaOnevisionProcessor", ["resample"] = 3,
            ["rescale_factor"] = 1 / 255.0, ["size"] = new { height = tile, width = tile },
        }, indented));
        int perTile = shape.Vision.NumPatches;
        File.WriteAllText(Path.Combine(dir, "processor_config.json"), JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["image_token"] = "<image>", ["num_image_tokens"] = perTile, ["processor_class"] = "LlavaOnevisionProcessor",
            ["video_token"] = "<video>", ["vision_feature_select_strategy"] = "full",
        }, indented));
        File.WriteAllText(Path.Combine(dir, "generation_config.json"), JsonSerializer.Serialize(new { bos_token_id = 1, eos_token_id = 2 }, indented));
    }
}
