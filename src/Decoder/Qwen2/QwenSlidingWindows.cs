using System.Text.Json;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;

namespace LlavaModal.Decoder.Qwen2;

/// <summary>
/// The sliding-window keys Qwen2 and Qwen3 configs share, and which layers they window: a layer attends to the last
/// <c>sliding_window</c> positions only when <c>use_sliding_window</c> is true, a window is set, and the layer is
/// marked <c>sliding_attention</c> in <c>layer_types</c>, or (without that list) its index is at least
/// <c>max_window_layers</c>, the rule transformers 4.45 applies in its flash-attention path and later versions in every
/// path. Real Qwen2 checkpoints state a window but leave <c>use_sliding_window</c> false: every layer attends fully.
/// </summary>
/// <param name="UseSlidingWindow"><c>use_sliding_window</c>.</param>
/// <param name="SlidingWindow"><c>sliding_window</c>: positions a windowed layer attends to, itself included (null: none).</param>
/// <param name="MaxWindowLayers"><c>max_window_layers</c>: layers below this index attend fully.</param>
/// <param name="LayerTypes"><c>layer_types</c> (<c>full_attention</c> / <c>sliding_attention</c> per layer), or null.</param>
public sealed record QwenSlidingWindows(bool UseSlidingWindow = false, int? SlidingWindow = 4096, int MaxWindowLayers = 28, IReadOnlyList<string>? LayerTypes = null)
{
    const string Full = "full_attention", Sliding = "sliding_attention";

    /// <summary>The window of layer <paramref name="layer"/>, or null for full causal attention.</summary>
    public int? WindowOf(int layer)
    {
        if (!UseSlidingWindow || SlidingWindow is not int window) return null;
        bool sliding = LayerTypes is not null ? LayerTypes[layer] == Sliding : layer >= MaxWindowLayers;
        return sliding ? window : null;
    }

    /// <summary>Reads the keys (transformers' defaults when absent: off, 4096, 28), checked against <paramref name="layers"/> layers.</summary>
    /// <exception cref="ConfigException">A window that is not positive, a negative <c>max_window_layers</c>, or a malformed <c>layer_types</c>.</exception>
    public static QwenSlidingWindows FromJson(JsonConfig json, int layers)
    {
        ArgumentNullException.ThrowIfNull(json);
        int? window = json.IsNull("sliding_window") ? null : json.Int("sliding_window", 4096);
        if (window is <= 0) throw json.Error("sliding_window", $"must be positive, got {window}.");
        int maxWindowLayers = json.Int("max_window_layers", 28);
        if (maxWindowLayers < 0) throw json.Error("max_window_layers", $"must not be negative, got {maxWindowLayers}.");
        return new QwenSlidingWindows(json.Bool("use_sliding_window", false), window, maxWindowLayers, LayerTypesOf(json, layers));
    }

    static List<string>? LayerTypesOf(JsonConfig json, int layers)
    {
        if (!json.TryGet("layer_types", out var v)) return null;
        if (v.ValueKind != JsonValueKind.Array || v.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String || e.GetString() is not (Full or Sliding)))
            throw json.Error("layer_types", $"expected a list of \"{Full}\" / \"{Sliding}\", got {v.GetRawText()}.");
        var types = v.EnumerateArray().Select(e => e.GetString()!).ToList();
        return types.Count == layers ? types : throw json.Error("layer_types", $"has {types.Count} entries for {layers} layers.");
    }

    /// <summary>Writes the keys into a <c>config.json</c> object.</summary>
    public void WriteTo(Dictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config["use_sliding_window"] = UseSlidingWindow;
        config["sliding_window"] = SlidingWindow;
        config["max_window_layers"] = MaxWindowLayers;
        if (LayerTypes is not null) config["layer_types"] = LayerTypes;
    }
}
