using LlavaModal.Abstractions.Tensors;
using LlavaModal.Tokenizers;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Generation.Constraints;

/// <summary>
/// One sequence's place in its grammar: before each token it blocks the logits of every token that would leave the
/// grammar (or could no longer be finished in the tokens left), and it follows each chosen token's bytes.
/// </summary>
sealed class TokenConstraint(GrammarMatcher matcher, HfTokenizer tokenizer, IReadOnlyCollection<int> endIds)
{
    ParserState state = matcher.Start;

    /// <summary>The output so far is a whole match of the grammar.</summary>
    public bool IsComplete => state.Accepts;

    /// <summary>Sets blocked tokens of <paramref name="logits"/> [1, V] to -inf, in place.</summary>
    /// <param name="logits">One row of logits.</param>
    /// <param name="tokensLeft">Tokens the sequence may still produce, this one included.</param>
    public void Restrict(Tensor logits, int tokensLeft)
    {
        var blocked = matcher.Blocked(state, tokensLeft, endIds);
        long width = Math.Min(blocked.Length, logits.shape[^1]);
        using var scope = NewDisposeScope();
        var mask = tensor(blocked, device: logits.device).narrow(0, 0, width);
        Scalars.With(double.NegativeInfinity, s => logits.narrow(-1, 0, width).masked_fill_(mask, s));
    }

    /// <summary>Follows the chosen token.</summary>
    /// <exception cref="InvalidOperationException">The token leaves the grammar (it was not chosen from restricted logits).</exception>
    public void Accept(int id)
    {
        if (endIds.Contains(id))
        {
            if (!state.Accepts) throw new InvalidOperationException($"Token {id} ends the sequence before the output matches its grammar.");
            return;
        }
        var bytes = tokenizer.TextBytes(id) ?? throw new InvalidOperationException($"Token {id} ('{tokenizer.IdToToken(id)}') is not plain text, which the output's grammar allows nowhere.");
        var next = matcher.Advance(state, bytes);
        if (next.IsDead) throw new InvalidOperationException($"Token {id} ('{tokenizer.IdToToken(id)}') does not continue the output's grammar.");
        state = next;
    }
}
