using LlavaModal.Abstractions;

namespace LlavaModal.Multimodal.Prompts;

/// <summary>Most positions a prompt may take, and why (for the message when it takes more).</summary>
/// <param name="MaxPositions">Positions available to the prompt.</param>
/// <param name="Context">The context the budget comes from.</param>
/// <param name="Explanation">Where the context comes from and how to raise it.</param>
sealed record PromptBudget(int MaxPositions, int Context, string Explanation)
{
    /// <summary>No limit (inspection of prompts the caller bounds itself).</summary>
    public static PromptBudget Unlimited { get; } = new(int.MaxValue, int.MaxValue, "no limit");

    /// <summary>The error for a prompt of <paramref name="positions"/> positions, with what they are made of.</summary>
    public InputLimitException Exceeded(long positions, string parts) =>
        new(nameof(ModelLimits.MaxContextTokens), MaxPositions, positions,
            $"The prompt takes {positions} positions ({parts}), more than the {MaxPositions} available: the context is {Context} positions " +
            $"({Explanation}){(MaxPositions < Context ? $" and {Context - MaxPositions} must stay free for the answer" : "")}. " +
            $"Shorten the prompt or its media, or raise the limit: {ModelLimits.HowToRaise}.");
}
