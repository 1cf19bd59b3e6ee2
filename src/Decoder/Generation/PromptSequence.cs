using static TorchSharp.torch;

namespace LlavaModal.Decoder.Generation;

/// <summary>One prompt ready for the decoder: its ids (before media expansion), its input embeddings and positions.</summary>
/// <param name="PromptIds">The tokenised prompt; also the ids the repetition penalty looks at.</param>
/// <param name="Embeddings">Decoder input [T, hidden] (text embeddings with any media embeddings spliced in).</param>
/// <param name="Positions">Position ids [axes, T] (CPU, int64), or null for 0..T-1.</param>
/// <param name="Resources">Released once the prompt is in the cache (prepared media, for example).</param>
sealed record PromptSequence(IReadOnlyList<int> PromptIds, Tensor Embeddings, Tensor? Positions = null, IDisposable? Resources = null);
