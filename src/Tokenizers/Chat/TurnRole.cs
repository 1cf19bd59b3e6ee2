namespace LlavaModal.Tokenizers.Chat;

/// <summary>Who speaks a chat message.</summary>
public enum TurnRole
{
    /// <summary>Instructions that frame the conversation.</summary>
    System,
    /// <summary>The human.</summary>
    User,
    /// <summary>The model.</summary>
    Assistant,
}
