using System.Globalization;
using System.Text.RegularExpressions;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Core.Modules;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Encoders.Vision.LlavaNext;
using LlavaModal.Encoders.Vision.Preprocessing;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.LlavaOnevision;

/// <summary>
/// Loads the image and video modalities of a LLaVA-OneVision folder (<c>model_type</c> <c>llava_onevision</c>): one
/// vision tower, projector and <c>image_newline</c> shared by both; the AnyRes image processor
/// (<c>preprocessor_config.json</c>, pinpoints agreeing with <c>config.json</c>'s) with <c>anyres_max_N</c> from
/// <c>vision_aspect_ratio</c>; and the video processor (<c>video_processor/preprocessor_config.json</c>, else
/// <c>video_preprocessor_config.json</c>, else the image processor's settings, as the llava-hf checkpoints share them).
/// </summary>
static partial class OnevisionVisionLoader
{
    /// <summary>The <c>model_type</c> of LLaVA-OneVision configs.</summary>
    public const string ModelType = "llava_onevision";

    /// <summary>Where the video processor's settings are looked for, in order.</summary>
    public static readonly string[] VideoProcessorFiles = [Path.Combine("video_processor", ImageProcessorConfig.FileName), "video_preprocessor_config.json"];

    /// <summary>The <c>LlavaOnevisionConfig</c> pinpoints: 384 px tiles in every grid from 1x1 to 6x6, as <c>[height, width]</c>.</summary>
    public static IReadOnlyList<GridPinpoint> DefaultPinpoints { get; } =
        [.. from h in Enumerable.Range(1, 6) from w in Enumerable.Range(1, 6) select new GridPinpoint(384 * h, 384 * w)];

    /// <summary>The <c>LlavaOnevisionImageProcessor</c> / <c>LlavaOnevisionVideoProcessor</c> defaults: 384 x 384, bicubic, rescale 1/255, OpenAI CLIP mean and std, no crop.</summary>
    static readonly ImageProcessorConfig ProcessorDefaults = new() { ShortestEdge = null, ResizeHeight = 384, ResizeWidth = 384, DoCenterCrop = false };

    /// <summary>True for a LLaVA-OneVision config.</summary>
    public static bool Handles(JsonConfig config) => config.String("model_type", "") == ModelType;

    /// <summary>The image binding, then the video binding, sharing one tower, projector and newline vector.</summary>
    /// <exception cref="ConfigException">A key the OneVision path cannot work with (named with its file).</exception>
    /// <exception cref="CheckpointException">A tensor is missing or has the wrong shape.</exception>
    public static IReadOnlyList<ModalityBinding> Load(ModalityLoadContext context, LlavaVisionOptions options)
    {
        var config = context.Config;
        int maxTiles = MaxTiles(config);
        var tower = LlavaVisionTower.Load(config, context.Weights, context.Architectures, context.Build, Selection(config));
        ProjectorModule? projector = null;
        Tensor? newline = null;
        OnevisionImageBinding? image = null;
        try
        {
            var processor = CreateImageProcessor(context, tower);
            var frames = CreateFrameProcessor(context, tower);
            projector = LlavaProjector.Load(context, tower.OutputWidth);
            newline = LlavaNextVisionLoader.ReadNewline(context);
            var loader = new ImageLoader(options.Loader);
            image = new OnevisionImageBinding(new OnevisionImageEncoder(tower, processor, maxTiles, loader), projector, newline, config.OptionalInt("image_token_index") ?? 151646);
            var video = new OnevisionVideoBinding(new OnevisionVideoEncoder(tower, frames, options.Video, loader), projector, newline, config.OptionalInt("video_token_index") ?? 151647);
            return [image, video];
        }
        catch
        {
            if (image is not null) image.Dispose();
            else
            {
                tower.Dispose();
                projector?.Dispose();
                newline?.Dispose();
            }
            throw;
        }
    }

    /// <summary>
    /// <c>vision_feature_layer</c> (default -1) and <c>vision_feature_select_strategy</c>, which must be <c>full</c>: SigLIP
    /// has no class token, and <c>default</c> would drop a patch, leaving a map that cannot be tiled or pooled (transformers fails too).
    /// </summary>
    static FeatureSelection Selection(JsonConfig config)
    {
        var strategy = config.String("vision_feature_select_strategy", "full");
        if (strategy != "full")
            throw config.Error("vision_feature_select_strategy", $"is '{strategy}'; LLaVA-OneVision needs 'full' (dropping a patch leaves a map AnyRes and the video pooling cannot lay out; transformers fails on it too).");
        var layers = config.Has("vision_feature_layer") ? config.IntOrList("vision_feature_layer") : [-1];
        if (layers.Count == 0) throw config.Error("vision_feature_layer", "must name at least one layer.");
        var section = config.Section("vision_config");
        var selection = new FeatureSelection(layers, strategy);
        try { selection.Resolve(section.Int("num_hidden_layers", 12)); }
        catch (ArgumentException e) { throw config.Error("vision_feature_layer", e.Message); }
        return selection;
    }

    /// <summary>N of <c>vision_aspect_ratio</c> <c>anyres_max_N</c> (the default is <c>anyres_max_9</c>).</summary>
    static int MaxTiles(JsonConfig config)
    {
        var value = config.String("vision_aspect_ratio", "anyres_max_9");
        var match = AnyResMaxPattern().Match(value);
        return match.Success && int.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0
            ? n
            : throw config.Error("vision_aspect_ratio", $"is '{value}'; expected anyres_max_N with N a positive number of tiles (llava-hf checkpoints use anyres_max_9).");
    }

    [GeneratedRegex("^anyres_max_([0-9]+)$")]
    private static partial Regex AnyResMaxPattern();

    static LlavaNextImageProcessor CreateImageProcessor(ModalityLoadContext context, VisionTower tower)
    {
        var config = context.Config;
        int side = (int)Math.Round(Math.Sqrt(tower.TokenCount));
        if (side * side != tower.TokenCount)
            throw config.Error("vision_config", $"the vision tower yields {tower.TokenCount} features per tile, not a square map AnyRes can pack.");
        var modelPinpoints = LlavaNextVisionLoader.ReadPinpoints(config) ?? DefaultPinpoints;

        var path = Path.Combine(context.ModelDirectory, ImageProcessorConfig.FileName);
        var json = File.Exists(path) ? JsonConfig.Load(path) : null;
        if (json?.OptionalString(ImageProcessors.TypeKey) is { } type && type is not ("LlavaOnevisionImageProcessor" or "LlavaOnevisionImageProcessorFast"))
            throw json.Error(ImageProcessors.TypeKey, $"is '{type}'; a llava_onevision checkpoint needs LlavaOnevisionImageProcessor (AnyRes tiles resized to the tower's size).");
        var processorPinpoints = (json is null ? null : LlavaNextVisionLoader.ReadPinpoints(json)) ?? DefaultPinpoints;
        if (!processorPinpoints.SequenceEqual(modelPinpoints))
            throw new ConfigException(path, "image_grid_pinpoints",
                $"the processor tiles at {LlavaNextVisionLoader.Describe(processorPinpoints)}{(json is null ? " (the default: the file is missing)" : "")} but config.json packs for {LlavaNextVisionLoader.Describe(modelPinpoints)}; they must be the same.");
        CheckProcessorCount(context, tower);

        var settingsFile = json is null ? ProcessorDefaults : ImageProcessorConfig.Load(path, ProcessorDefaults);
        int tile = TileSize(settingsFile, path, tower, "image");
        AnyResSettings settings;
        try { settings = new AnyResSettings(modelPinpoints, tile, side); }
        catch (ArgumentException e) { throw config.Error("image_grid_pinpoints", e.Message); }
        // Every tile (and the base image) is resized to exactly tile x tile, never cropped.
        var tiles = settingsFile with { DoCenterCrop = false, CropHeight = tile, CropWidth = tile, ShortestEdge = null, ResizeHeight = tile, ResizeWidth = tile };
        return new LlavaNextImageProcessor(tiles, settings);
    }

    /// <summary><c>processor_config.json</c>'s <c>num_image_tokens</c>, when given, is the tokens of one tile: the tower's.</summary>
    static void CheckProcessorCount(ModalityLoadContext context, VisionTower tower)
    {
        var path = Path.Combine(context.ModelDirectory, "processor_config.json");
        if (!File.Exists(path)) return;
        var json = JsonConfig.Load(path);
        if (json.OptionalInt("num_image_tokens") is int n && n != tower.TokenCount)
            throw json.Error("num_image_tokens", $"is {n}, but the vision tower yields {tower.TokenCount} features per tile (vision_config in config.json).");
    }

    /// <summary>The video processor: the first of <see cref="VideoProcessorFiles"/> present, else the image processor's settings.</summary>
    static SiglipImageProcessor CreateFrameProcessor(ModalityLoadContext context, VisionTower tower)
    {
        var path = VideoProcessorFiles.Select(f => Path.Combine(context.ModelDirectory, f)).FirstOrDefault(File.Exists)
            ?? Path.Combine(context.ModelDirectory, ImageProcessorConfig.FileName);
        var settings = File.Exists(path) ? ImageProcessorConfig.Load(path, ProcessorDefaults) : ProcessorDefaults;
        int size = TileSize(settings, path, tower, "video");
        return new SiglipImageProcessor(settings with { DoResize = true, ShortestEdge = null, ResizeHeight = size, ResizeWidth = size });
    }

    /// <summary>The square the processor resizes to (<c>size</c>: height and width, or a shortest edge taken as a square), which must be the tower's input.</summary>
    static int TileSize(ImageProcessorConfig settings, string path, VisionTower tower, string what)
    {
        if (!settings.DoResize)
            throw new ConfigException(path, "do_resize", $"is false, but every {(what == "video" ? "frame" : "tile")} must be resized to the vision tower's {tower.ImageSize}x{tower.ImageSize}.");
        var (height, width) = settings.ShortestEdge is int edge ? (edge, edge) : (settings.ResizeHeight ?? 0, settings.ResizeWidth ?? 0);
        if (height != tower.ImageSize || width != tower.ImageSize)
            throw new ConfigException(path, "size", $"the {what} processor resizes to {width}x{height}{(File.Exists(path) ? "" : " (the default: the file is missing)")}, but the vision tower takes {tower.ImageSize}x{tower.ImageSize} (vision_config.image_size in config.json).");
        return height;
    }
}
