using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Vision;

namespace LlavaModal.Encoders.Vision.Llava;

/// <summary>Reads LLaVA's choice of vision features (<c>vision_feature_layer</c>, <c>vision_feature_select_strategy</c>) from a config's top level.</summary>
public static class LlavaFeatureSelection
{
    /// <summary>The selection a LLaVA config names (defaults: layer -2, strategy <c>default</c>), checked against a tower of <paramref name="numLayers"/> layers.</summary>
    /// <exception cref="ConfigException">An unknown strategy or an index outside the hidden states, naming the key.</exception>
    public static FeatureSelection FromJson(JsonConfig llava, int numLayers)
    {
        ArgumentNullException.ThrowIfNull(llava);
        var layers = llava.Has("vision_feature_layer") ? llava.IntOrList("vision_feature_layer") : [-2];
        if (layers.Count == 0) throw llava.Error("vision_feature_layer", "must name at least one layer.");
        var strategy = llava.String("vision_feature_select_strategy", "default");
        if (strategy is not ("default" or "full"))
            throw llava.Error("vision_feature_select_strategy", $"'{strategy}' is not supported (supported: default, full).");
        var selection = new FeatureSelection(layers, strategy);
        try { selection.Resolve(numLayers); }
        catch (ArgumentException e) { throw llava.Error("vision_feature_layer", e.Message); }
        return selection;
    }

    /// <summary>The two keys as a LLaVA <c>config.json</c> writes them.</summary>
    public static Dictionary<string, object?> ToJsonObject(FeatureSelection selection)
    {
        ArgumentNullException.ThrowIfNull(selection);
        return new()
        {
            ["vision_feature_layer"] = selection.Layers.Count == 1 ? selection.Layers[0] : selection.Layers,
            ["vision_feature_select_strategy"] = selection.Strategy,
        };
    }
}
