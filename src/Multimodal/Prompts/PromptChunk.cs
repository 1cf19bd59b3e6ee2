using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Modality;

namespace LlavaModal.Multimodal.Prompts;

/// <summary>
/// A piece of a tokenised prompt, in order: text ids, or one media input ready to embed. Each knows how many positions
/// it takes before anything is encoded (as llama.cpp's <c>mtmd</c> chunks do).
/// </summary>
abstract record PromptChunk
{
    /// <summary>Positions the chunk takes in the decoder's sequence.</summary>
    public abstract int Positions { get; }

    /// <summary>The chunk as the decoder's position scheme sees it.</summary>
    public abstract PromptSegment Segment { get; }
}

/// <summary>Consecutive text tokens.</summary>
sealed record TextChunk(int[] Ids) : PromptChunk
{
    public override int Positions => Ids.Length;

    public override PromptSegment Segment => new(Ids.Length);
}

/// <summary>One media input, prepared by its plugin (decoded, preprocessed, its token count known).</summary>
sealed record MediaChunk(ModalityBinding Binding, PreparedInput Input) : PromptChunk
{
    public override int Positions => Input.TokenCount;

    public override PromptSegment Segment => new(Input.TokenCount, Input.Grid);
}
