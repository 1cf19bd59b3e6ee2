using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Weights;

namespace LlavaModal.Core.Checkpoints;

/// <summary>
/// The one check of the sizes an untrusted config claims against what its checkpoint actually holds, run by the loaders
/// (the decoder's config in <c>ModelFolder</c>, the vision and audio towers' sections in their plugins) before any module
/// is built from them. Building allocates what the config says; a config claiming 100000 layers or a 2^30-wide model
/// would otherwise ask libtorch for terabytes (a native <c>bad_alloc</c> abort) before the strict tensor check could
/// refuse it. Every bound is a necessary condition for a real transformer checkpoint, so none refuses a checkpoint that
/// matches its config; the exact shapes are still checked tensor by tensor when the weights are loaded.
/// </summary>
public static class ConfigBounds
{
    /// <summary>Keys that are a dimension of some tensor: none can exceed the checkpoint's largest dimension.</summary>
    public static readonly IReadOnlyList<string> DimensionKeys =
    [
        "vocab_size", "hidden_size", "intermediate_size", "head_dim", "num_attention_heads", "num_key_value_heads", "d_model",
        "encoder_ffn_dim", "decoder_ffn_dim", "encoder_attention_heads", "decoder_attention_heads", "projection_dim",
        "num_mel_bins", "patch_size", "num_channels",
    ];

    /// <summary>Keys that count layers: each layer holds at least one tensor.</summary>
    public static readonly IReadOnlyList<string> LayerKeys = ["num_hidden_layers", "num_layers", "encoder_layers", "decoder_layers"];

    /// <summary>Keys that give a module's inner width: together with the model width they form a weight matrix.</summary>
    static readonly string[] MatrixKeys = ["vocab_size", "intermediate_size", "encoder_ffn_dim"];

    /// <summary>Checks the sizes <paramref name="config"/> claims (present keys, and <paramref name="claimed"/> values the reader defaulted) against <paramref name="weights"/>.</summary>
    /// <param name="config">The config section (e.g. <c>text_config</c>, <c>vision_config</c>).</param>
    /// <param name="weights">The checkpoint.</param>
    /// <param name="claimed">Sizes the section's reader will build with, by key, including defaults for absent keys.</param>
    /// <exception cref="ConfigException">A size more than the checkpoint could hold, naming the key, its value and the checkpoint's bound.</exception>
    public static void Check(JsonConfig config, IWeightSource weights, IReadOnlyDictionary<string, long>? claimed = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        long tensors = 0, largestDim = 0, largestTensor = 0;
        foreach (var name in weights.Names)
        {
            tensors++;
            long elements = 1;
            foreach (var d in weights.Shape(name))
            {
                largestDim = Math.Max(largestDim, d);
                elements = d == 0 ? 0 : elements > long.MaxValue / d ? long.MaxValue : elements * d;
            }
            largestTensor = Math.Max(largestTensor, elements);
        }

        long? Value(string key) => config.Has(key) && config.TryGet(key, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.Number
            ? config.Long(key) : claimed is not null && claimed.TryGetValue(key, out var c) ? c : null;

        foreach (var key in LayerKeys)
            if (Value(key) is long layers && layers > tensors)
                throw config.Error(key, $"claims {layers} layers but the checkpoint in {weights.Directory} holds only {tensors} tensors in all; the config does not describe these weights.");
        foreach (var key in DimensionKeys)
            if (Value(key) is long size && size > largestDim)
                throw config.Error(key, $"claims {size} but no tensor of the checkpoint in {weights.Directory} has a dimension above {largestDim}; the config does not describe these weights.");
        if ((Value("hidden_size") ?? Value("d_model")) is long width)
        {
            string widthKey = Value("hidden_size") is not null ? "hidden_size" : "d_model";
            if (Product(width, width) > largestTensor)
                throw config.Error(widthKey, $"{width} x {width} weights would exceed the checkpoint's largest tensor ({largestTensor} elements); the config does not describe these weights.");
            foreach (var key in MatrixKeys)
                if (Value(key) is long inner && Product(width, inner) > largestTensor)
                    throw config.Error(key, $"{inner} x {widthKey} {width} weights would exceed the checkpoint's largest tensor ({largestTensor} elements); the config does not describe these weights.");
        }
        if (Value("image_size") is long image && Value("patch_size") is long patch && patch > 0)
        {
            long side = image / patch;
            if (Product(side, side) > largestDim)
                throw config.Error("image_size", $"{image} with patch_size {patch} claims {Product(side, side)} patches, more than any dimension of the checkpoint in {weights.Directory} ({largestDim}); the config does not describe these weights.");
        }
    }

    static long Product(long a, long b) => a != 0 && b > long.MaxValue / a ? long.MaxValue : a * b;
}
