using static TorchSharp.torch;

namespace LlavaModal.Decoder.Generation;

/// <summary>One prompt ready for the decoder: its ids (before media expansion) and its input embeddings.</summary>
/// <param name="PromptIds">The tokenised prompt; also the ids the repetition penalty looks at.</param>
/// <param name="Embeddings">Decoder input [T, hidden] (text embeddings with any media embeddings spliced in).</param>
internal sealed record PromptSequence(IReadOnlyList<int> PromptIds, Tensor Embeddings);
