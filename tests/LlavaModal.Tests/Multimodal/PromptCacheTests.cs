using LlavaModal.Abstractions.Modality;
using LlavaModal.Decoder.Generation;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tests.Support;
using LlavaModal.Tokenizers.Chat;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Multimodal;

/// <summary>The LLaVA image plugin, counting how often an image is encoded (vision tower and projector).</summary>
sealed class CountingVisionFactory : IModalityEncoderFactory
{
    readonly LlavaVisionFactory inner = new();
    int embeds;

    public int Embeds => Volatile.Read(ref embeds);

    public string Modality => inner.Modality;

    public ModalityBinding? TryLoad(ModalityLoadContext context) => inner.TryLoad(context) is { } binding ? new Counting(binding, this) : null;

    // Takes over the inner binding's encoder and projector (disposed through this one).
    sealed class Counting(ModalityBinding inner, CountingVisionFactory owner) : ModalityBinding(inner.Encoder, inner.Projector, inner.PlaceholderTokenId)
    {
        public override Tensor Embed(PreparedInput input, Device device, CancellationToken cancellation = default)
        {
            Interlocked.Increment(ref owner.embeds);
            return base.Embed(input, device, cancellation);
        }
    }
}

/// <summary>A prompt that starts like an earlier one reuses its keys and values: same answers, media not encoded again.</summary>
public class PromptCacheTests
{
    static readonly ModalityInput Image = ModalityInput.FromFile(Path.Combine(Fixtures.Images, "gradient_640x480.png"), "image");

    static (MultimodalModel Model, CountingVisionFactory Vision) Load(long cacheBytes, int? prefillChunk = null)
    {
        var vision = new CountingVisionFactory();
        return (MultimodalModel.Load(Fixtures.LlavaTinyA, [vision], new ModelLoadOptions { PromptCacheBytes = cacheBytes, Limits = new ModelLimits { PrefillChunkTokens = prefillChunk } }), vision);
    }

    static MultimodalPrompt Turns(MultimodalModel model, params string[] texts) =>
        model.RenderChat([.. texts.Select((t, i) => new ChatTurn(i % 2 == 0 ? TurnRole.User : TurnRole.Assistant, t))], [Image]);

    [Fact]
    public void A_second_chat_turn_reuses_the_image_and_answers_as_without_the_cache()
    {
        // The cached model prefills 7 positions at a time: the second turn's new positions go in pieces after the reused prefix.
        var (cached, vision) = Load(ModelLoadOptions.DefaultPromptCacheBytes, prefillChunk: 7);
        var (plain, plainVision) = Load(0);
        using var _ = cached;
        using var __ = plain;
        var greedy = new GenerationOptions { MaxNewTokens = 10, StopTokenIds = [] };

        var first = cached.Generate(Turns(cached, "What is in the picture?"), greedy);
        Assert.Equal(0, first.CachedPromptTokens);
        Assert.Equal(1, vision.Embeds);

        var second = Turns(cached, "What is in the picture?", first.Text, "And what colours does it have?");
        var withCache = cached.Generate(second, greedy);
        var without = plain.Generate(second, greedy);

        // The whole first prompt (its 576 image positions included) came from the cache, and the image was not encoded again.
        Assert.True(withCache.CachedPromptTokens >= first.PromptTokens, $"reused {withCache.CachedPromptTokens} of the first prompt's {first.PromptTokens} positions");
        Assert.True(withCache.PromptTokens - withCache.CachedPromptTokens > 7, "the new positions fit one piece");
        Assert.Equal(1, vision.Embeds);
        Assert.Equal(1, plainVision.Embeds);   // it ran only the second turn
        Assert.Equal(without.GeneratedIds, withCache.GeneratedIds);
        Assert.Equal(without.PromptTokens, withCache.PromptTokens);
        Assert.Equal(0, without.CachedPromptTokens);

        // Seeded sampling too.
        var sampled = greedy with { Temperature = 0.9f, Seed = 7 };
        Assert.Equal(plain.Generate(second, sampled).GeneratedIds, cached.Generate(second, sampled).GeneratedIds);

        var stats = cached.PromptCache;
        Assert.Equal(2, stats.Hits);
        Assert.True(stats.Entries >= 1 && stats.Bytes > 0 && stats.Bytes <= stats.CapacityBytes);
        Assert.Equal(new PromptCacheStatistics(0, 0, 0, 0, 0), plain.PromptCache);
    }

    [Fact]
    public void The_same_prompt_again_computes_only_its_last_position()
    {
        var (model, vision) = Load(ModelLoadOptions.DefaultPromptCacheBytes);
        using var _ = model;
        var prompt = Turns(model, "Describe it.");
        var options = new GenerationOptions { MaxNewTokens = 6, StopTokenIds = [] };
        var first = model.Generate(prompt, options);
        var again = model.Generate(prompt, options);
        Assert.Equal(first.PromptTokens - 1, again.CachedPromptTokens);
        Assert.Equal(first.GeneratedIds, again.GeneratedIds);
        Assert.Equal(1, vision.Embeds);
    }

    [Fact]
    public void Another_image_is_not_taken_for_the_cached_one()
    {
        var (model, vision) = Load(ModelLoadOptions.DefaultPromptCacheBytes);
        using var _ = model;
        var options = new GenerationOptions { MaxNewTokens = 4, StopTokenIds = [] };
        model.Generate(Turns(model, "Describe it."), options);
        var other = ModalityInput.FromFile(Path.Combine(Fixtures.Images, "tiny_7x5.png"), "image");
        var result = model.Generate(model.RenderChat([new ChatTurn(TurnRole.User, "Describe it.")], [other]), options);
        // Only the text before the image is shared.
        var imageAt = result.PromptIds.ToList().IndexOf(model.PlaceholderIds["image"]);
        Assert.Equal(imageAt, result.CachedPromptTokens);
        Assert.Equal(2, vision.Embeds);
    }
}
