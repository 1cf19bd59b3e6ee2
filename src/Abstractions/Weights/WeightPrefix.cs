namespace LlavaModal.Abstractions.Weights;

/// <summary>
/// The one probe for where a part's tensors live: llava-hf checkpoints saved before transformers 4.52 keep parts at the
/// top (<c>vision_tower.*</c>, <c>multi_modal_projector.*</c>), newer ones under <c>model.</c>
/// (<c>model.vision_tower.*</c>).
/// </summary>
public static class WeightPrefix
{
    /// <summary>
    /// <c>model.</c> + <paramref name="prefix"/> when tensor <c>model.{prefix}{probe}</c> exists, else
    /// <paramref name="prefix"/> when <c>{prefix}{probe}</c> exists, else null.
    /// </summary>
    /// <param name="weights">The checkpoint.</param>
    /// <param name="prefix">The part's prefix in the older layout (<c>multi_modal_projector.</c>).</param>
    /// <param name="probe">A tensor the part always has, relative to its prefix (<c>linear_1.weight</c>).</param>
    public static string? Find(this IWeightSource weights, string prefix, string probe)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (weights.Contains("model." + prefix + probe)) return "model." + prefix;
        return weights.Contains(prefix + probe) ? prefix : null;
    }
}
