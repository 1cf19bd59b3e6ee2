namespace LlavaModal.Abstractions;

/// <summary>
/// An input is larger than a configured limit (prompt positions against the context, image pixels, audio length, file
/// size). Raised before anything of the size is allocated; the message names the limit and how to raise it.
/// </summary>
public sealed class InputLimitException : LlavaModalException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="limit">The option that sets the limit (<c>ModelLimits.MaxContextTokens</c>).</param>
    /// <param name="maximum">The limit's value.</param>
    /// <param name="actual">What the input needs.</param>
    /// <param name="message">The full message: what is too large, the limit, and how to raise it.</param>
    public InputLimitException(string limit, long maximum, long actual, string message) : base(message)
    {
        Limit = limit;
        Maximum = maximum;
        Actual = actual;
    }

    /// <summary>The option that sets the limit.</summary>
    public string Limit { get; }

    /// <summary>The limit's value.</summary>
    public long Maximum { get; }

    /// <summary>What the input needed.</summary>
    public long Actual { get; }
}
