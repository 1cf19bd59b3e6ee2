using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Weights;

namespace LlavaModal.Multimodal.Loading;

/// <summary>
/// Where a checkpoint keeps the language model's tensors: at the top (<c>model.*</c>, <c>lm_head.*</c>: a text model,
/// Qwen2-VL), under <c>language_model.</c> (llava-hf until transformers 4.52), or as <c>model.language_model.*</c> with a
/// top-level <c>lm_head.*</c> (newer llava-hf). Found by probing the family's probe tensor; the one mapping between
/// module names and checkpoint names.
/// </summary>
sealed record DecoderWeightLayout(string Name, Func<string, string> ToCheckpointName, Func<string, bool> BelongsToDecoder)
{
    public static DecoderWeightLayout Detect(IWeightSource weights, string probe)
    {
        if (weights.Contains("language_model." + probe))
            return new("language_model.", n => "language_model." + n, n => n.StartsWith("language_model.", StringComparison.Ordinal));
        if (probe.StartsWith("model.", StringComparison.Ordinal) && weights.Contains("model.language_model." + probe["model.".Length..]))
            return new("model.language_model.",
                n => n.StartsWith("model.", StringComparison.Ordinal) ? "model.language_model." + n["model.".Length..] : n,
                n => n.StartsWith("model.language_model.", StringComparison.Ordinal) || n.StartsWith("lm_head.", StringComparison.Ordinal));
        if (weights.Contains(probe))
            return new("", n => n, n => n.StartsWith("model.", StringComparison.Ordinal) || n.StartsWith("lm_head.", StringComparison.Ordinal));
        throw new CheckpointException(weights.Directory,
            $"no language model weights found (looked for '{probe}', 'language_model.{probe}' and the model.language_model. layout).");
    }
}
