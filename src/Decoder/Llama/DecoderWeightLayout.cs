using LlavaModal.Core.Checkpoints;

namespace LlavaModal.Decoder.Llama;

/// <summary>
/// Where a checkpoint keeps the language model's tensors: at the top (<c>model.*</c>, <c>lm_head.*</c>: LLaMA),
/// under <c>language_model.</c> (llava-hf until transformers 4.52), or as <c>model.language_model.*</c> with a
/// top-level <c>lm_head.*</c> (newer llava-hf). The one mapping between module names and checkpoint names.
/// </summary>
internal sealed record DecoderWeightLayout(string Name, Func<string, string> ToCheckpointName, Func<string, bool> BelongsToDecoder)
{
    public static DecoderWeightLayout Detect(SafeTensorsCheckpoint weights)
    {
        if (weights.Contains("language_model.model.embed_tokens.weight"))
            return new("language_model.", n => "language_model." + n, n => n.StartsWith("language_model.", StringComparison.Ordinal));
        if (weights.Contains("model.language_model.embed_tokens.weight"))
            return new("model.language_model.",
                n => n.StartsWith("model.", StringComparison.Ordinal) ? "model.language_model." + n["model.".Length..] : n,
                n => n.StartsWith("model.language_model.", StringComparison.Ordinal) || n.StartsWith("lm_head.", StringComparison.Ordinal));
        return new("", n => n, n => n.StartsWith("model.", StringComparison.Ordinal) || n.StartsWith("lm_head.", StringComparison.Ordinal));
    }
}
