using LlavaModal.Encoders.Audio.Reading;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Server;
using LlavaModal.Server.Hosting;
using LlavaModal.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace LlavaModal.Tests.Server;

/// <summary>In the server collection: these start servers of their own, which must not overlap the shared one's metrics tests.</summary>
[Collection(ServerCollection.Name)]
public class WarmUpTests
{
    [Fact]
    public void The_synthetic_image_and_audio_decode_as_what_they_claim()
    {
        var image = new ImageLoader().Load(WarmUp.Bitmap(), "warm-up image");
        Assert.Equal(32, image.Width);
        Assert.Equal(32, image.Height);
        Assert.All(image.Pixels, p => Assert.Equal(128, p));
        using var wav = new MemoryStream(WarmUp.Wave());
        var audio = WavDecoder.Decode(wav, "warm-up audio", TimeSpan.FromSeconds(30));
        Assert.Equal(16000, audio.SampleRate);
        Assert.Equal(16000, audio.Count);
        Assert.All(audio.Samples.Take(audio.Count), s => Assert.Equal(0f, s));
    }

    static async Task<WebApplication> Started(bool warmUp)
    {
        var app = LlavaServer.Create(new ServerOptions { ModelDirectory = Fixtures.LlavaTinyA, Port = 0, WarmUp = warmUp });
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First().TrimEnd('/') + "/") };
        for (int i = 0; i < 600 && !(await http.GetAsync("health")).IsSuccessStatusCode; i++) await Task.Delay(50);
        return app;
    }

    [Fact]
    public async Task The_server_warms_up_before_it_is_ready_and_leaves_the_prompt_cache_as_it_found_it()
    {
        await using (var app = await Started(warmUp: true))
        {
            var state = app.Services.GetRequiredService<ModelState>();
            Assert.True(state.IsReady);
            // Set only when the answer and the image (this model's plugin) went through without an error.
            Assert.NotNull(state.WarmUpMilliseconds);
            var cache = app.Services.GetRequiredService<LlavaModal.Multimodal.MultimodalModel>().PromptCache;
            Assert.True(cache.CapacityBytes > 0, "the prompt cache is on");
            Assert.Equal((0, 0L, 0L), (cache.Entries, cache.Hits, cache.ReusedTokens));
            await app.StopAsync();
        }
        await using (var app = await Started(warmUp: false))
        {
            var state = app.Services.GetRequiredService<ModelState>();
            Assert.True(state.IsReady);
            Assert.Null(state.WarmUpMilliseconds);
            await app.StopAsync();
        }
    }
}
