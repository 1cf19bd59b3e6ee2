namespace LlavaModal.Multimodal;

/// <summary>What the prompt cache holds and has saved (see <see cref="ModelLoadOptions.PromptCacheBytes"/>).</summary>
/// <param name="Entries">Cached sequences.</param>
/// <param name="Bytes">Memory they hold.</param>
/// <param name="CapacityBytes">The most it may hold (0: off).</param>
/// <param name="Hits">Prompts that started from a cached prefix.</param>
/// <param name="ReusedTokens">Prompt positions loaded instead of computed, in all.</param>
public sealed record PromptCacheStatistics(int Entries, long Bytes, long CapacityBytes, long Hits, long ReusedTokens);
