namespace LlavaModal.Tokenizers.Chat;

/// <summary>One turn of a conversation. Media placeholders (<c>&lt;image&gt;</c>) may appear in <paramref name="Content"/>.</summary>
/// <param name="Role">Speaker.</param>
/// <param name="Content">Text.</param>
public sealed record ChatTurn(TurnRole Role, string Content);
