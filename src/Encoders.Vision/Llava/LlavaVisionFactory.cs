using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Modules;
using LlavaModal.Encoders.Vision.LlavaNext;
using LlavaModal.Encoders.Vision.LlavaNextVideo;
using LlavaModal.Encoders.Vision.LlavaOnevision;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Encoders.Vision.Qwen2VL;

namespace LlavaModal.Encoders.Vision.Llava;

/// <summary>
/// Loads the image plugin of a LLaVA checkpoint (a config with <c>vision_config</c>): the vision tower registered for
/// <c>vision_config.model_type</c> (<c>clip_vision_model</c> when absent, as LLaVA's default) from
/// <c>vision_tower.*</c>, the projector (<c>mlp2x_gelu</c> unless <c>projector_type</c> says otherwise, activation
/// <c>projector_hidden_act</c>) from <c>multi_modal_projector.*</c>, and the image processor <c>preprocessor_config.json</c> names
/// (<c>image_processor_type</c>: CLIP or SigLIP).
/// </summary>
public sealed class LlavaVisionFactory(LlavaVisionOptions? options = null) : IModalityEncoderFactory
{
    /// <summary>Where llava-hf checkpoints keep the projector (below an optional <c>model.</c>).</summary>
    public const string ProjectorPrefix = "multi_modal_projector.";

    readonly LlavaVisionOptions options = options ?? new LlavaVisionOptions();

    /// <inheritdoc />
    public string Modality => "image";

    /// <summary>The image binding (a LLaVA-OneVision, LLaVA-NeXT-Video or Qwen2-VL folder's video binding is not made; the model loads through <see cref="LoadAll"/>).</summary>
    public ModalityBinding? TryLoad(ModalityLoadContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var config = context.Config;
        if (!config.Has("vision_config")) return null;
        if (LlavaNextVisionLoader.Handles(config)) return LlavaNextVisionLoader.Load(context, options);
        if (OnevisionVisionLoader.Handles(config) || Qwen2VLVisionLoader.Handles(config) || NextVideoVisionLoader.Handles(config))
        {
            var all = LoadAll(context);
            foreach (var other in all.Skip(1)) other.Dispose();
            return all[0];
        }
        var tower = LlavaVisionTower.Load(config, context.Weights, context.Architectures, context.Build);
        ProjectorModule? projector = null;
        try
        {
            if (config.OptionalInt("image_seq_length") is int declared && declared != tower.TokenCount)
                throw config.Error("image_seq_length", $"is {declared}, but the vision tower yields {tower.TokenCount} tokens per image.");
            var type = config.String("projector_type", "mlp2x_gelu");
            var activation = config.String("projector_hidden_act", "gelu");
            try { projector = Projectors.Create(type, tower.OutputWidth, context.DecoderHiddenSize, activation, context.DType, context.Device, context.Build.Linear); }
            catch (ArgumentException e) { throw config.Error(e.ParamName == "name" ? "projector_hidden_act" : "projector_type", e.Message); }
            if (projector.Type != "identity")
            {
                var prefix = context.Weights.Find(ProjectorPrefix, "linear_1.weight")
                    ?? throw new CheckpointException(context.ModelDirectory, $"no projector weights ({ProjectorPrefix}linear_1.weight) in the checkpoint.");
                StateDictLoader.Load(projector, context.Weights, prefix);
            }
            projector.eval();
            var processor = ImageProcessors.FromDirectory(context.ModelDirectory, options.PadToSquare, options.Loader.MaxPixels);
            CheckProcessorSize(processor.Config, context.ModelDirectory, tower);
            var encoder = new LlavaImageEncoder(tower, processor, new ImageLoader(options.Loader));
            return new ModalityBinding(encoder, projector, config.OptionalInt("image_token_index") ?? 32000);
        }
        catch
        {
            tower.Dispose();
            projector?.Dispose();
            throw;
        }
    }

    /// <summary>The image binding, and for a LLaVA-OneVision, LLaVA-NeXT-Video or Qwen2-VL folder the video binding too, sharing its tower (and projector).</summary>
    public IReadOnlyList<ModalityBinding> LoadAll(ModalityLoadContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Config.Has("vision_config") && OnevisionVisionLoader.Handles(context.Config)) return OnevisionVisionLoader.Load(context, options);
        if (context.Config.Has("vision_config") && Qwen2VLVisionLoader.Handles(context.Config)) return Qwen2VLVisionLoader.Load(context, options);
        if (context.Config.Has("vision_config") && NextVideoVisionLoader.Handles(context.Config)) return NextVideoVisionLoader.Load(context, options);
        return TryLoad(context) is { } binding ? [binding] : [];
    }

    /// <summary>
    /// The image processor's settings, checked against the tower at load: the pixels it makes must be the tower's
    /// <c>image_size</c> square, or every image would fail in the tower (naming neither file) at the first request.
    /// </summary>
    /// <exception cref="ConfigException">The crop (or resize) size differs from the tower's, naming the file and key, or saying the file is missing.</exception>
    static void CheckProcessorSize(ImageProcessorConfig config, string directory, VisionTower tower)
    {
        var path = Path.Combine(directory, ImageProcessorConfig.FileName);
        bool present = File.Exists(path);
        var (width, height, key) = config.DoCenterCrop ? (config.CropWidth, config.CropHeight, "crop_size")
            : config.ShortestEdge is int edge ? (edge, edge, "size") : (config.ResizeWidth ?? 0, config.ResizeHeight ?? 0, "size");
        if (width == tower.ImageSize && height == tower.ImageSize) return;
        var message = $"gives {width}x{height} images, but the vision tower takes {tower.ImageSize}x{tower.ImageSize} (vision_config.image_size in config.json).";
        throw present
            ? new ConfigException(path, key, message)
            : new ConfigException(path, "(file)", $"is missing, so CLIPImageProcessor's defaults apply, which {message} Add the checkpoint's {ImageProcessorConfig.FileName}.");
    }
}
