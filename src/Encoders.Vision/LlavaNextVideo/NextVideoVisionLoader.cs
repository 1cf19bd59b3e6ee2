using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Encoders.Vision.LlavaNext;
using LlavaModal.Encoders.Vision.LlavaOnevision;
using LlavaModal.Encoders.Vision.Preprocessing;

namespace LlavaModal.Encoders.Vision.LlavaNextVideo;

/// <summary>
/// Loads the image and video modalities of a LLaVA-NeXT-Video folder (<c>model_type</c> <c>llava_next_video</c>): the image
/// modality is LLaVA-NeXT's (CLIP tower, AnyRes, <c>image_newline</c>); the video modality shares its tower and projector and
/// adds the <c>vision_resampler</c> pooling (<see cref="NextVideoPooler"/>). The frame processor's settings come from
/// <c>video_processor/preprocessor_config.json</c>, else <c>video_preprocessor_config.json</c>, else the image processor's
/// <c>preprocessor_config.json</c> (CLIP's shortest-edge resize and centre crop, as <c>LlavaNextVideoImageProcessor</c>).
/// </summary>
static class NextVideoVisionLoader
{
    /// <summary>The <c>model_type</c> of LLaVA-NeXT-Video configs.</summary>
    public const string ModelType = "llava_next_video";

    /// <summary>True for a LLaVA-NeXT-Video config.</summary>
    public static bool Handles(JsonConfig config) => config.String("model_type", "") == ModelType;

    /// <summary>The image binding, then the video binding, sharing one tower and projector.</summary>
    /// <exception cref="ConfigException">A key the image or video path cannot work with (named with its file).</exception>
    /// <exception cref="CheckpointException">A tensor is missing or has the wrong shape.</exception>
    public static IReadOnlyList<ModalityBinding> Load(ModalityLoadContext context, LlavaVisionOptions options)
    {
        var config = context.Config;
        // LlavaNextVideoConfig's defaults: image_token_index 32001, video_token_index 32000.
        var image = LlavaNextVisionLoader.Load(context, options, defaultImageTokenId: 32001);
        NextVideoPooler? pooler = null;
        try
        {
            var tower = ((LlavaNextImageEncoder)image.Encoder).Tower;
            int side = (int)Math.Round(Math.Sqrt(tower.TokenCount));
            pooler = NextVideoPooler.Load(context, side, tower.OutputWidth);
            var loader = new ImageLoader(options.Loader);
            var encoder = new NextVideoEncoder(tower, CreateFrameProcessor(context, tower, options), pooler, options.Video, loader);
            var video = new ModalityBinding(encoder, new SharedProjector(image.Projector), config.OptionalInt("video_token_index") ?? 32000);
            return [image, video];
        }
        catch
        {
            pooler?.Dispose();
            image.Dispose();
            throw;
        }
    }

    /// <summary>The video processor: resize by the shortest edge, centre-crop to the tower's size, rescale, normalise (no padding).</summary>
    static ClipImageProcessor CreateFrameProcessor(ModalityLoadContext context, VisionTower tower, LlavaVisionOptions options)
    {
        var path = OnevisionVisionLoader.VideoProcessorFiles.Select(f => Path.Combine(context.ModelDirectory, f)).FirstOrDefault(File.Exists)
            ?? Path.Combine(context.ModelDirectory, ImageProcessorConfig.FileName);
        var settings = File.Exists(path) ? ImageProcessorConfig.Load(path, new ImageProcessorConfig()) : new ImageProcessorConfig();
        var (width, height, key) = settings.DoCenterCrop ? (settings.CropWidth, settings.CropHeight, "crop_size")
            : settings.ShortestEdge is int edge ? (edge, edge, "size") : (settings.ResizeWidth ?? 0, settings.ResizeHeight ?? 0, "size");
        if (!settings.DoCenterCrop && settings.ShortestEdge is not null)
            throw new ConfigException(path, "do_center_crop", $"is false with a shortest-edge resize, which leaves frames of the video's aspect; every frame must be {tower.ImageSize}x{tower.ImageSize} for the vision tower.");
        if (width != tower.ImageSize || height != tower.ImageSize)
            throw new ConfigException(path, key, $"the video processor makes {width}x{height} frames{(File.Exists(path) ? "" : " (the default: the file is missing)")}, but the vision tower takes {tower.ImageSize}x{tower.ImageSize} (vision_config.image_size in config.json).");
        try { return new ClipImageProcessor(settings, padToSquare: false) { MaxPixels = options.Loader.MaxPixels }; }
        catch (ArgumentException e) { throw new ConfigException(path, "size", e.Message); }
    }
}
