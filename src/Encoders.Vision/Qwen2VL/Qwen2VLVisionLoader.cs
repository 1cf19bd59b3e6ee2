using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Core.Modules;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Encoders.Vision.Preprocessing;

namespace LlavaModal.Encoders.Vision.Qwen2VL;

/// <summary>
/// Loads the image and video modalities of a Qwen2-VL folder (<c>model_type</c> <c>qwen2_vl</c>): one
/// <see cref="Qwen2VisionTransformer"/> from <c>visual.*</c> (its merger already gives the decoder's width, so the projector
/// is the identity), the processor from <c>preprocessor_config.json</c> (its patch, merge and temporal sizes must be the
/// tower's), placeholders <c>&lt;|image_pad|&gt;</c> (<c>image_token_id</c>) and <c>&lt;|video_pad|&gt;</c> (<c>video_token_id</c>).
/// </summary>
static class Qwen2VLVisionLoader
{
    /// <summary>The <c>model_type</c> of Qwen2-VL configs.</summary>
    public const string ModelType = "qwen2_vl";

    /// <summary>The tokens that frame every image or video in a Qwen2-VL prompt.</summary>
    public const string VisionStart = "<|vision_start|>", VisionEnd = "<|vision_end|>";

    /// <summary>True for a Qwen2-VL config.</summary>
    public static bool Handles(JsonConfig config) => config.String("model_type", "") == ModelType;

    /// <summary>The image binding, then the video binding, sharing one tower.</summary>
    /// <exception cref="ConfigException">A key the tower or the processor cannot work with (named with its file).</exception>
    /// <exception cref="CheckpointException">A tensor is missing or has the wrong shape.</exception>
    public static IReadOnlyList<ModalityBinding> Load(ModalityLoadContext context, LlavaVisionOptions options)
    {
        var config = context.Config;
        var section = config.Section("vision_config");
        var vision = Qwen2VLVisionConfig.FromJson(section, context.Weights);
        if (vision.HiddenSize != context.DecoderHiddenSize)
            throw section.Error("hidden_size", $"is {vision.HiddenSize}, but the merger must give the decoder's width ({context.DecoderHiddenSize}).");
        var processor = CreateProcessor(context.ModelDirectory, vision);
        var tower = Qwen2VisionTransformer.Load(context.Weights, vision, context.Build);
        try
        {
            var loader = new ImageLoader(options.Loader);
            // Qwen2-VL's prompts frame every input: <|vision_start|><|image_pad|><|vision_end|>, as its processor and chat template write it.
            var image = new ModalityBinding(new Qwen2VLMediaEncoder(tower, processor, null, loader), Identity(context), config.OptionalInt("image_token_id") ?? 151655)
            {
                PromptText = $"{VisionStart}<|image_pad|>{VisionEnd}",
            };
            var video = new ModalityBinding(new Qwen2VLMediaEncoder(tower, processor, options.Video, loader, ownsTower: false), Identity(context), config.OptionalInt("video_token_id") ?? 151656)
            {
                PromptText = $"{VisionStart}<|video_pad|>{VisionEnd}",
            };
            return [image, video];
        }
        catch
        {
            tower.Dispose();
            throw;
        }
    }

    static ProjectorModule Identity(ModalityLoadContext context) =>
        Projectors.Create("identity", context.DecoderHiddenSize, context.DecoderHiddenSize, dtype: context.DType, device: context.Device, linear: context.Build.Linear);

    static Qwen2VLImageProcessor CreateProcessor(string directory, Qwen2VLVisionConfig vision)
    {
        var path = Path.Combine(directory, ImageProcessorConfig.FileName);
        var json = File.Exists(path) ? JsonConfig.Load(path) : null;
        if (json?.OptionalString(ImageProcessors.TypeKey) is { } type && type is not ("Qwen2VLImageProcessor" or "Qwen2VLImageProcessorFast"))
            throw json.Error(ImageProcessors.TypeKey, $"is '{type}'; a qwen2_vl checkpoint needs Qwen2VLImageProcessor.");
        Qwen2VLImageProcessor processor;
        try { processor = Qwen2VLImageProcessor.FromDirectory(directory); }
        catch (ArgumentException e) { throw new ConfigException(path, "(file)", e.Message); }
        foreach (var (key, ours, tower, towerKey) in new[]
        {
            ("patch_size", processor.PatchSize, vision.PatchSize, "patch_size"),
            ("merge_size", processor.MergeSize, vision.SpatialMergeSize, "spatial_merge_size"),
            ("temporal_patch_size", processor.TemporalPatchSize, vision.TemporalPatchSize, "temporal_patch_size"),
        })
        {
            if (ours != tower)
                throw new ConfigException(path, key, $"is {ours}{(json is null ? " (the default: the file is missing)" : "")}, but the vision tower's {towerKey} is {tower} (vision_config in config.json).");
        }
        return processor;
    }
}
