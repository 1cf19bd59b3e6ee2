using System.Net;
using LlavaModal.Abstractions;
using LlavaModal.SemanticKernel.Services;
using Microsoft.Extensions.AI;

namespace LlavaModal.Tests.SemanticKernel.Services;

[Collection(LlavaServicesCollection.Name)]
public class ContentErrorTests(LlavaServicesFixture fx)
{
    static readonly ChatOptions Short = new() { MaxOutputTokens = 3 };

    [Fact]
    public async Task An_empty_history_is_refused()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => fx.Client.GetResponseAsync([], Short));
        Assert.Contains("empty", e.Message);
        var systemOnly = await Assert.ThrowsAsync<ArgumentException>(() => fx.Client.GetResponseAsync([new ChatMessage(ChatRole.System, "Be nice.")], Short));
        Assert.Contains("no user message", systemOnly.Message);
    }

    [Fact]
    public async Task Unsupported_content_and_roles_are_refused_by_name()
    {
        var hosted = await Assert.ThrowsAsync<NotSupportedException>(() => fx.Client.GetResponseAsync([new ChatMessage(ChatRole.User, [new TextContent("hi"), new HostedFileContent("file-1")])], Short));
        Assert.Contains("HostedFileContent", hosted.Message);
        Assert.Contains("Message 0", hosted.Message);

        var tool = await Assert.ThrowsAsync<NotSupportedException>(() => fx.Client.GetResponseAsync(
            [new ChatMessage(ChatRole.User, "hi"), new ChatMessage(ChatRole.Tool, [new FunctionResultContent("c1", "42")])], Short));
        Assert.Contains("role 'tool'", tool.Message);

        var call = await Assert.ThrowsAsync<NotSupportedException>(() => fx.Client.GetResponseAsync(
            [new ChatMessage(ChatRole.User, "hi"), new ChatMessage(ChatRole.Assistant, [new FunctionCallContent("c1", "f")]), new ChatMessage(ChatRole.User, "so?")], Short));
        Assert.Contains("cannot call functions", call.Message);

        var pdf = await Assert.ThrowsAsync<NotSupportedException>(() => fx.Client.GetResponseAsync([new ChatMessage(ChatRole.User, [new DataContent(new byte[] { 1, 2, 3 }, "application/pdf"), new TextContent("?")])], Short));
        Assert.Contains("application/pdf", pdf.Message);

        var systemImage = await Assert.ThrowsAsync<NotSupportedException>(() => fx.Client.GetResponseAsync(
            [new ChatMessage(ChatRole.System, [new DataContent(LlavaServicesFixture.ImageBytes(), "image/png")]), new ChatMessage(ChatRole.User, "?")], Short));
        Assert.Contains("system message", systemImage.Message);
    }

    [Fact]
    public async Task A_written_placeholder_is_refused_instead_of_miscounted()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => fx.Client.GetResponseAsync([new ChatMessage(ChatRole.User, "What is <image> here?")], Short));
        Assert.Contains("<image>", e.Message);
    }

    [Fact]
    public async Task Audio_without_an_audio_plugin_names_the_missing_plugin()
    {
        var e = await Assert.ThrowsAsync<LlavaModalException>(() => fx.Client.GetResponseAsync([new ChatMessage(ChatRole.User, [new DataContent(new byte[] { 1, 2, 3, 4 }, "audio/wav"), new TextContent("?")])], Short));
        Assert.Contains("no 'audio' plugin", e.Message);
        Assert.Contains("AddModalityEncoder", e.Message);
    }

    [Fact]
    public async Task Remote_images_are_refused_unless_the_user_opts_in()
    {
        var remote = new ChatMessage(ChatRole.User, [new UriContent("https://example.com/cat.png?token=secret", "image/png"), new TextContent(LlavaServicesFixture.Question)]);
        var e = await Assert.ThrowsAsync<NotSupportedException>(() => fx.Client.GetResponseAsync([remote], Short));
        Assert.Contains("RemoteMediaClient", e.Message);
        Assert.DoesNotContain("secret", e.Message);

        var file = await Assert.ThrowsAsync<NotSupportedException>(() => fx.Client.GetResponseAsync([new ChatMessage(ChatRole.User, [new UriContent("file:///etc/passwd", "image/png")])], Short));
        Assert.Contains("file", file.Message);
    }

    [Fact]
    public async Task With_an_http_client_remote_images_are_fetched_and_answered_like_local_ones()
    {
        var handler = new StubHandler(LlavaServicesFixture.ImageBytes());
        using var http = new HttpClient(handler);
        using var client = new LlavaChatClient(fx.Model, new LlavaChatClientOptions { RemoteMediaClient = http });
        var remote = new ChatMessage(ChatRole.User, [new UriContent("https://example.com/gradient.png", "image/*"), new TextContent(LlavaServicesFixture.Question)]);
        var response = await client.GetResponseAsync([remote], Short);
        Assert.Equal(fx.DirectQuestion(3).GeneratedIds, ((LlavaModal.Decoder.Generation.GenerationResult)response.RawRepresentation!).GeneratedIds);
        Assert.Equal("https://example.com/gradient.png", handler.Requested!.ToString());

        using var small = new LlavaChatClient(fx.Model, new LlavaChatClientOptions { RemoteMediaClient = http, MaxRemoteMediaBytes = 100 });
        var tooBig = await Assert.ThrowsAsync<LlavaModalException>(() => small.GetResponseAsync([remote], Short));
        Assert.Contains("MaxRemoteMediaBytes", tooBig.Message);
    }

    sealed class StubHandler(byte[] body) : HttpMessageHandler
    {
        public Uri? Requested { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Requested = request.RequestUri;
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = new("image/png");
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = content });
        }
    }
}
