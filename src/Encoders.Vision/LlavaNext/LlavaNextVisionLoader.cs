using System.Text.Json;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Modules;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Encoders.Vision.Preprocessing;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.LlavaNext;

/// <summary>
/// Loads the image modality of a LLaVA-NeXT folder (<c>model_type</c> <c>llava_next</c>): the vision tower and the
/// projector as for LLaVA, the <c>image_newline</c> vector, and the AnyRes processor, whose pinpoints come from
/// <c>preprocessor_config.json</c> (the processor's) and <c>config.json</c> (the model's) and must agree.
/// </summary>
static class LlavaNextVisionLoader
{
    /// <summary>The <c>model_type</c> of LLaVA-NeXT configs.</summary>
    public const string ModelType = "llava_next";

    /// <summary>The newline tensor's name (below an optional <c>model.</c>).</summary>
    public const string ImageNewline = "image_newline";

    /// <summary>True for a LLaVA-NeXT config.</summary>
    public static bool Handles(JsonConfig config) => config.String("model_type", "") == ModelType;

    /// <exception cref="ConfigException">A key the AnyRes path cannot work with (named with its file).</exception>
    /// <exception cref="CheckpointException">A tensor is missing or has the wrong shape.</exception>
    /// <param name="context">The folder's config, weights and build settings.</param>
    /// <param name="options">Image limits.</param>
    /// <param name="defaultImageTokenId">The family config's default <c>image_token_index</c> (LLaVA-NeXT's 32000; LLaVA-NeXT-Video's 32001).</param>
    public static LlavaNextBinding Load(ModalityLoadContext context, LlavaVisionOptions options, int defaultImageTokenId = 32000)
    {
        var config = context.Config;
        if (config.String("vision_feature_select_strategy", "default") is var strategy && strategy != "default")
            throw config.Error("vision_feature_select_strategy", $"'{strategy}' keeps the CLS token, which AnyRes cannot lay out as a grid of patches; LLaVA-NeXT needs 'default' (transformers fails on it too).");
        var tower = LlavaVisionTower.Load(config, context.Weights, context.Architectures, context.Build);
        ProjectorModule? projector = null;
        Tensor? newline = null;
        try
        {
            if (config.OptionalInt("image_seq_length") is int declared && declared != tower.TokenCount)
                throw config.Error("image_seq_length", $"is {declared}, but the vision tower yields {tower.TokenCount} tokens per tile.");
            var processor = CreateProcessor(context, tower);
            projector = LlavaProjector.Load(context, tower.OutputWidth);
            newline = ReadNewline(context);
            var encoder = new LlavaNextImageEncoder(tower, processor, new ImageLoader(options.Loader));
            return new LlavaNextBinding(encoder, projector, newline, config.OptionalInt("image_token_index") ?? defaultImageTokenId);
        }
        catch
        {
            tower.Dispose();
            projector?.Dispose();
            newline?.Dispose();
            throw;
        }
    }

    static LlavaNextImageProcessor CreateProcessor(ModalityLoadContext context, VisionTower tower)
    {
        var config = context.Config;
        int side = (int)Math.Round(Math.Sqrt(tower.TokenCount));
        if (side * side != tower.TokenCount)
            throw config.Error("vision_config", $"the vision tower yields {tower.TokenCount} features per tile, not a square grid AnyRes can pack.");
        var modelPinpoints = ReadPinpoints(config) ?? GridPinpoint.LlavaV16;

        var processorPath = Path.Combine(context.ModelDirectory, ImageProcessorConfig.FileName);
        var processorJson = File.Exists(processorPath) ? JsonConfig.Load(processorPath) : null;
        var processorPinpoints = (processorJson is null ? null : ReadPinpoints(processorJson)) ?? GridPinpoint.LlavaV16;
        if (!processorPinpoints.SequenceEqual(modelPinpoints))
            throw new ConfigException(processorPath, "image_grid_pinpoints",
                $"the processor tiles at {Describe(processorPinpoints)}{(processorJson is null ? " (the default: the file is missing)" : "")} but config.json packs for {Describe(modelPinpoints)}; they must be the same.");

        AnyResSettings settings;
        try { settings = new AnyResSettings(modelPinpoints, tower.ImageSize, side); }
        catch (ArgumentException e) { throw config.Error("image_grid_pinpoints", e.Message); }
        var imageConfig = ImageProcessorConfig.LoadFromDirectory(context.ModelDirectory);
        try { return new LlavaNextImageProcessor(imageConfig, settings); }
        catch (ArgumentException e) { throw new ConfigException(processorPath, imageConfig.DoCenterCrop ? "crop_size" : "do_center_crop", e.Message); }
    }

    /// <summary><c>image_grid_pinpoints</c> as <c>[[height, width], ...]</c>, or null when absent.</summary>
    internal static GridPinpoint[]? ReadPinpoints(JsonConfig json)
    {
        const string key = "image_grid_pinpoints";
        if (!json.TryGet(key, out var value)) return null;
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() == 0)
            throw json.Error(key, $"expected a non-empty list of [height, width] pairs, got {value.GetRawText()}.");
        return [.. value.EnumerateArray().Select(pair =>
            pair.ValueKind == JsonValueKind.Array && pair.GetArrayLength() == 2
            && pair[0].ValueKind == JsonValueKind.Number && pair[1].ValueKind == JsonValueKind.Number
            && pair[0].TryGetInt32(out int h) && pair[1].TryGetInt32(out int w) && h > 0 && w > 0
                ? new GridPinpoint(h, w)
                : throw json.Error(key, $"expected [height, width] pairs of positive integers, got {pair.GetRawText()}."))];
    }

    internal static string Describe(IEnumerable<GridPinpoint> pinpoints) => "[" + string.Join(", ", pinpoints) + "]";

    /// <summary>The checkpoint's <c>image_newline</c> [decoder width], read strictly (either layout).</summary>
    internal static Tensor ReadNewline(ModalityLoadContext context)
    {
        var prefix = context.Weights.Find("", ImageNewline)
            ?? throw new CheckpointException(context.ModelDirectory, $"no '{ImageNewline}' tensor (looked for '{ImageNewline}' and 'model.{ImageNewline}'); LLaVA-NeXT ends every row of image features with it.");
        var name = prefix + ImageNewline;
        var shape = context.Weights.Shape(name);
        if (shape.Count != 1 || shape[0] != context.DecoderHiddenSize)
            throw new CheckpointException(context.ModelDirectory, $"'{name}' has shape [{string.Join(", ", shape)}], expected [{context.DecoderHiddenSize}] (the decoder's hidden size).");
        return context.Weights.Read(name, context.DType, context.Device);
    }
}
