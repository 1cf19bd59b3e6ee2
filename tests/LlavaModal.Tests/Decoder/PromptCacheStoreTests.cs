using LlavaModal.Abstractions.Decoding;
using LlavaModal.Decoder.Generation;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Decoder;

/// <summary>The prompt cache's bookkeeping: longest shared prefix, one entry per conversation, bounded memory and count.</summary>
public class PromptCacheStoreTests
{
    /// <summary>A one-layer prefix of <paramref name="length"/> positions, 8 bytes each (keys and values of one float).</summary>
    static Func<CachedPrefix> Prefix(long length, List<CachedPrefix>? saved = null) => () =>
    {
        var prefix = new CachedPrefix([(zeros(1, length, 1), zeros(1, length, 1))], length);
        saved?.Add(prefix);
        return prefix;
    };

    static ulong[] Keys(params int[] ids) => [.. ids.Select(i => (ulong)i)];

    [Fact]
    public void The_longest_shared_prefix_is_found_but_never_the_last_position()
    {
        using var cache = new PromptCache(1 << 20);
        cache.Add(Keys(1, 2, 3, 4), Prefix(4));
        cache.Add(Keys(1, 2, 9), Prefix(3));

        Assert.Equal(3, cache.Find(Keys(1, 2, 3, 7, 8), limit: 4).Length);
        Assert.Equal(2, cache.Find(Keys(1, 2, 9, 9), limit: 2).Length);   // limited by the caller
        Assert.Equal(3, cache.Find(Keys(1, 2, 9, 5), limit: 3).Length);
        Assert.Equal((null, 0), cache.Find(Keys(5, 1, 2), limit: 2));
        Assert.Equal(3, cache.Hits);
        Assert.Equal(8, cache.ReusedTokens);
    }

    [Fact]
    public void A_conversation_keeps_one_entry_and_a_prefix_of_an_entry_is_not_saved_again()
    {
        var saved = new List<CachedPrefix>();
        using var cache = new PromptCache(1 << 20);
        cache.Add(Keys(1, 2, 3), Prefix(3, saved));
        cache.Add(Keys(1, 2, 3, 4, 5), Prefix(5, saved));   // turn 2 extends turn 1: replaces it
        Assert.Equal(1, cache.Count);
        Assert.Equal(5 * 8, cache.Bytes);
        cache.Add(Keys(1, 2), Prefix(2, saved));            // already held: nothing copied
        Assert.Equal(2, saved.Count);
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public void Memory_stays_within_capacity_by_evicting_the_least_recently_used()
    {
        using var cache = new PromptCache(100);               // room for 12 positions
        cache.Add(Keys(1, 1, 1, 1), Prefix(4));
        cache.Add(Keys(2, 2, 2, 2), Prefix(4));
        cache.Add(Keys(3, 3, 3, 3), Prefix(4));
        Assert.Equal(4, cache.Find(Keys(1, 1, 1, 1, 1), limit: 4).Length);   // 1 is now the most recent
        cache.Add(Keys(4, 4, 4, 4), Prefix(4));               // evicts 2, the least recently used
        Assert.Equal(3, cache.Count);
        Assert.True(cache.Bytes <= cache.CapacityBytes);
        Assert.Equal(0, cache.Find(Keys(2, 2, 2, 2, 2), limit: 4).Length);
        Assert.Equal(4, cache.Find(Keys(1, 1, 1, 1, 1), limit: 4).Length);

    }

    [Fact]
    public void A_sequence_larger_than_the_whole_cache_is_not_kept_and_once_known_not_even_copied()
    {
        var saved = new List<CachedPrefix>();
        using var cache = new PromptCache(100);
        cache.Add([.. Enumerable.Repeat(9UL, 20)], Prefix(20, saved));      // 160 bytes: copied (its size was unknown), then dropped
        Assert.Equal(0, cache.Count);
        Assert.Equal(0, cache.Bytes);
        cache.Add([.. Enumerable.Repeat(8UL, 20)], Prefix(20, saved));      // known too large now: not copied
        Assert.Single(saved);
        cache.Add(Keys(1, 2), Prefix(2, saved));
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public void The_number_of_entries_is_bounded()
    {
        using var cache = new PromptCache(1L << 30);
        for (int i = 0; i < PromptCache.MaxEntries + 10; i++) cache.Add(Keys(i, 0), Prefix(2));
        Assert.Equal(PromptCache.MaxEntries, cache.Count);
        Assert.Equal(0, cache.Find(Keys(0, 0, 0), limit: 2).Length);
        Assert.Equal(2, cache.Find(Keys(PromptCache.MaxEntries + 9, 0, 0), limit: 2).Length);
    }
}
