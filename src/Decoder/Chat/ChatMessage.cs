namespace LlavaModal.Decoder.Chat;

/// <summary>Who speaks a chat message.</summary>
public enum ChatRole
{
    /// <summary>Instructions that frame the conversation.</summary>
    System,
    /// <summary>The human.</summary>
    User,
    /// <summary>The model.</summary>
    Assistant,
}

/// <summary>One turn of a conversation. Media placeholders (<c>&lt;image&gt;</c>) may appear in <paramref name="Content"/>.</summary>
/// <param name="Role">Speaker.</param>
/// <param name="Content">Text.</param>
public sealed record ChatMessage(ChatRole Role, string Content);
