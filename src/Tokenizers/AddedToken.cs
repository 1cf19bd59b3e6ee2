namespace LlavaModal.Tokenizers;

/// <summary>
/// One entry of Hugging Face's added-token table (<c>added_tokens_decoder</c> / <c>added_tokens.json</c>):
/// a literal string that is matched in the text before SentencePiece runs and maps to a fixed id.
/// </summary>
/// <param name="Content">The literal text of the token.</param>
/// <param name="Id">The token id.</param>
/// <param name="LeftStrip">HF <c>lstrip</c>: whitespace before the match is removed.</param>
/// <param name="RightStrip">HF <c>rstrip</c>: whitespace after the match is removed.</param>
/// <param name="SingleWord">HF <c>single_word</c>: only matches when not glued to a neighbouring word.</param>
sealed record AddedToken(string Content, int Id, bool LeftStrip, bool RightStrip, bool SingleWord);
