namespace LlavaModal.Abstractions.Vision;

/// <summary>
/// Which hidden states of a vision tower LLaVA feeds to the projector: <c>vision_feature_layer</c> (an index into the
/// L + 1 hidden states, negative counting from the end, or a list whose states are concatenated along the feature
/// dimension) and <c>vision_feature_select_strategy</c> (<c>default</c> drops the CLS token, <c>full</c> keeps it).
/// </summary>
/// <param name="Layers">Hidden-state indices; -2 (LLaVA-1.5) is the output of the second-to-last layer.</param>
/// <param name="Strategy"><c>default</c> or <c>full</c>.</param>
public sealed record FeatureSelection(IReadOnlyList<int> Layers, string Strategy = "default")
{
    /// <summary>The <c>LlavaConfig</c> defaults: layer -2, strategy <c>default</c>.</summary>
    public static FeatureSelection Default { get; } = new([-2]);

    /// <summary>True when the CLS token is kept.</summary>
    public bool KeepsClsToken => Strategy == "full";

    /// <summary>The selected hidden-state indices made absolute (0 = embeddings, i = output of layer i).</summary>
    /// <exception cref="ArgumentException">An index outside [-(L+1), L], or an unknown strategy.</exception>
    public int[] Resolve(int numLayers)
    {
        if (Strategy is not ("default" or "full"))
            throw new ArgumentException($"vision feature select strategy '{Strategy}' is not supported (supported: default, full).");
        if (Layers.Count == 0) throw new ArgumentException("vision_feature_layer must name at least one layer.");
        return Layers.Select(i => i >= -(numLayers + 1) && i <= numLayers ? (i < 0 ? numLayers + 1 + i : i)
            : throw new ArgumentException($"vision_feature_layer {i} is outside the {numLayers + 1} hidden states (valid: {-(numLayers + 1)}..{numLayers}).")).ToArray();
    }
}
