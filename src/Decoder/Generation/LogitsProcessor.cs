using LlavaModal.Abstractions.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Generation;

/// <summary>
/// Turns raw logits [B, V] into the next token ids [B], in the reference's order: repetition penalty, then
/// (when sampling) temperature, top-k, top-p, min-p, then a multinomial draw; greedy takes the argmax.
/// </summary>
static class LogitsProcessor
{
    /// <param name="logits">Raw float32 logits [B, V].</param>
    /// <param name="seen">Ids already in each row [B, L] (prompt and output), for the repetition penalty.</param>
    /// <param name="options">Options.</param>
    /// <param name="generator">Random source for sampling.</param>
    public static Tensor NextTokens(Tensor logits, Tensor? seen, GenerationOptions options, Generator? generator)
    {
        using var scope = NewDisposeScope();
        var scores = logits;
        if (options.RepetitionPenalty != 1f && seen is not null)
        {
            var picked = scores.gather(1, seen);
            var penalised = where(picked.LtScalar(0), picked.MulScalar(options.RepetitionPenalty), picked.DivScalar(options.RepetitionPenalty));
            scores = scores.scatter(1, seen, penalised);
        }
        if (options.Temperature == 0)
            return scores.argmax(-1).MoveToOuterDisposeScope();

        scores = scores.DivScalar(options.Temperature);
        long vocab = scores.shape[^1];
        if (options.TopK > 0 && options.TopK < vocab)
        {
            var kth = scores.topk(options.TopK, -1).values.narrow(-1, options.TopK - 1, 1);
            scores = scores.MaskedFillScalar(scores.lt(kth), double.NegativeInfinity);
        }
        if (options.TopP < 1f)
        {
            var (sorted, indices) = scores.sort(-1, descending: false);
            var cumulative = sorted.softmax(-1).cumsum(-1);
            var remove = cumulative.LeScalar(1 - options.TopP);
            using (var keep = false.ToScalar()) remove.index_fill_(-1, tensor(new long[] { vocab - 1 }, device: remove.device), keep); // keep at least one
            scores = scores.MaskedFillScalar(remove.scatter(1, indices, remove), double.NegativeInfinity);
        }
        if (options.MinP > 0f)
        {
            var probs = scores.softmax(-1);
            var threshold = probs.amax([-1], keepdim: true).MulScalar(options.MinP);
            scores = scores.MaskedFillScalar(probs.lt(threshold), double.NegativeInfinity);
        }
        return multinomial(scores.softmax(-1), 1, generator: generator).squeeze(-1).MoveToOuterDisposeScope();
    }
}
