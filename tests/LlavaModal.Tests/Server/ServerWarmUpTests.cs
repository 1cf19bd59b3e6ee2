using LlavaModal.Server;
using LlavaModal.Server.Hosting;
using LlavaModal.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace LlavaModal.Tests.Server;

/// <summary>In the server collection: these start servers of their own, which must not overlap the shared one's metrics tests.</summary>
[Collection(ServerCollection.Name)]
public class ServerWarmUpTests
{
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
