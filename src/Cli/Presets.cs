using LlavaModal.Decoder.Llama;

namespace LlavaModal.Cli;

/// <summary>Named LLaMA shapes for <c>llava-modal init</c>: random-weight checkpoints for tests and benchmarks.</summary>
static class Presets
{
    public static readonly IReadOnlyDictionary<string, LlamaConfig> Llama = new Dictionary<string, LlamaConfig>(StringComparer.Ordinal)
    {
        // Same shape as the llama-tiny fixture (GQA 2).
        ["tiny"] = new() { VocabSize = 512, HiddenSize = 64, IntermediateSize = 176, NumHiddenLayers = 4, NumAttentionHeads = 4, NumKeyValueHeads = 2, HeadDim = 16, RmsNormEps = 1e-5, MaxPositionEmbeddings = 2048 },
        // About 100M parameters.
        ["100m"] = new() { VocabSize = 32000, HiddenSize = 640, IntermediateSize = 1728, NumHiddenLayers = 12, NumAttentionHeads = 10, NumKeyValueHeads = 10, HeadDim = 64, RmsNormEps = 1e-5, MaxPositionEmbeddings = 2048 },
        // TinyLlama-1.1B's shape (GQA 8).
        ["1b"] = new() { VocabSize = 32000, HiddenSize = 2048, IntermediateSize = 5632, NumHiddenLayers = 22, NumAttentionHeads = 32, NumKeyValueHeads = 4, HeadDim = 64, RmsNormEps = 1e-5, MaxPositionEmbeddings = 2048 },
        // LLaMA-7B / Vicuna-7B (the language model of llava-1.5-7b).
        ["llama-7b"] = new() { VocabSize = 32000, HiddenSize = 4096, IntermediateSize = 11008, NumHiddenLayers = 32, NumAttentionHeads = 32, NumKeyValueHeads = 32, HeadDim = 128, RmsNormEps = 1e-5, MaxPositionEmbeddings = 4096 },
    };

    public static string Names => string.Join(", ", Llama.Keys.Concat(OnevisionPresets.All.Keys));
}
