using LlavaModal.Multimodal;
using LlavaModal.SemanticKernel.Services;
using LlavaModal.Server;
using LlavaModal.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

namespace LlavaModal.Tests.Server;

/// <summary>One server for every server test class: a process runs one server, as in production (its metrics are per process).</summary>
[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "server";
}

/// <summary>
/// The server on loopback (a free port) over the tiny LLaVA fixture, with an API key, and the same model loaded
/// in-process with its <see cref="IChatClient"/> for the answers the server must reproduce token for token.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public const string Key = "test-key";
    WebApplication? app;

    public Uri BaseAddress { get; private set; } = null!;
    public Uri V1 => new(BaseAddress, "v1/");
    public string ModelId => "llava-tiny-a";
    public MultimodalModel Direct { get; private set; } = null!;
    public IChatClient DirectClient { get; private set; } = null!;

    /// <summary>The server's own model.</summary>
    public MultimodalModel Served => app!.Services.GetRequiredService<MultimodalModel>();

    public async Task InitializeAsync()
    {
        app = LlavaServer.Create(new ServerOptions { ModelDirectory = Fixtures.LlavaTinyA, Port = 0, ApiKey = Key, MaxRequestBytes = 4 * 1024 * 1024, MaxMediaPerRequest = 4 });
        await app.StartAsync();
        BaseAddress = new Uri(app.Urls.First().TrimEnd('/') + "/");
        Direct = MultimodalModel.Load(Fixtures.LlavaTinyA);
        DirectClient = new LlavaChatClient(Direct);
        using var http = new HttpClient { BaseAddress = BaseAddress };
        for (int i = 0; i < 300 && !(await http.GetAsync("health")).IsSuccessStatusCode; i++) await Task.Delay(100);
    }

    public HttpClient Http(bool authorized = true)
    {
        var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        if (authorized) http.DefaultRequestHeaders.Authorization = new("Bearer", Key);
        return http;
    }

    public static string ImageDataUri(string img = "img0") =>
        $"data:{LlavaModal.Tests.SemanticKernel.LlavaServicesFixture.MediaType(img)};base64,{Convert.ToBase64String(LlavaModal.Tests.SemanticKernel.LlavaServicesFixture.ImageBytes(img))}";

    public async Task DisposeAsync()
    {
        if (app is not null)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
        DirectClient?.Dispose();
        Direct?.Dispose();
    }
}
