using LlavaModal.Encoders.Audio.Reading;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.DependencyInjection;
using LlavaModal.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LlavaModal.Tests.Multimodal;

/// <summary><see cref="MultimodalModel.WarmUp"/> and <see cref="LlavaModalOptions.WarmUp"/>: what they run and what they leave behind.</summary>
public class ModelWarmUpTests
{
    [Fact]
    public void The_synthetic_image_and_audio_decode_as_what_they_claim()
    {
        var image = new ImageLoader().Load(ModelWarmUp.Bitmap(), "warm-up image");
        Assert.Equal(32, image.Width);
        Assert.Equal(32, image.Height);
        Assert.All(image.Pixels, p => Assert.Equal(128, p));
        using var wav = new MemoryStream(ModelWarmUp.Wave());
        var audio = WavDecoder.Decode(wav, "warm-up audio", TimeSpan.FromSeconds(30));
        Assert.Equal(16000, audio.SampleRate);
        Assert.Equal(16000, audio.Count);
        Assert.All(audio.Samples.Take(audio.Count), s => Assert.Equal(0f, s));
    }

    [Fact]
    public void A_warm_up_generates_and_leaves_the_prompt_cache_empty()
    {
        using var model = MultimodalModel.Load(Fixtures.LlavaTinyA);
        Assert.True(model.PromptCache.CapacityBytes > 0, "the prompt cache is on");
        int steps = 0;
        model.Engine.StepLogitsObserver = _ => Interlocked.Increment(ref steps);
        model.WarmUp();
        // A two-token answer: the prompt's logits and one decode step (none if the random model's first token ends it).
        Assert.InRange(steps, 1, 2);
        var cache = model.PromptCache;
        Assert.Equal((0, 0L, 0L), (cache.Entries, cache.Hits, cache.ReusedTokens));

        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => model.WarmUp(cancelled.Token));
        Assert.Equal(0, model.PromptCache.Entries);
    }

    [Fact]
    public void Dependency_injection_warms_up_when_asked_and_logs_it()
    {
        foreach (bool warmUp in new[] { true, false })
        {
            var logs = new ListLoggerProvider();
            var services = new ServiceCollection();
            services.AddSingleton<ILoggerFactory>(logs);
            services.AddLlavaModal(o => { o.ModelDirectory = Fixtures.LlavaTinyA; o.WarmUp = warmUp; });
            using var provider = services.BuildServiceProvider();
            var model = provider.GetRequiredService<MultimodalModel>();
            Assert.Equal(warmUp, logs.Entries.Any(e => e.EventId == LlavaModalLogEvents.ModelWarmedUp && e.Level == LogLevel.Information && e.Message.Contains("llava-tiny-a")));
            Assert.Equal(0, model.PromptCache.Entries);
        }
    }
}
