using System.Net;
using System.Text;
using System.Text.Json;

namespace LlavaModal.Tests.Server;

/// <summary>The wire: server-sent event framing, OpenAI error shapes and status codes, health, models, metrics, disconnects.</summary>
[Collection(ServerCollection.Name)]
public class HttpProtocolTests(ServerFixture fx)
{
    static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    static string ImageRequest(bool stream, int maxTokens, string extra = "") =>
        $$$"""{"model":"llava-tiny-a","max_tokens":{{{maxTokens}}},"stream":{{{(stream ? "true" : "false")}}}{{{extra}}},"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"{{{ServerFixture.ImageDataUri("img2")}}}"}},{"type":"text","text":"Describe it."}]}]}""";

    static async Task<JsonElement> ErrorOf(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var error = doc.RootElement.GetProperty("error").Clone();
        Assert.Equal(JsonValueKind.String, error.GetProperty("message").ValueKind);
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.True(error.TryGetProperty("param", out _) && error.TryGetProperty("code", out _));
        return error;
    }

    [Fact]
    public async Task Streams_are_server_sent_events_ending_with_done_and_the_usage_chunk_when_asked()
    {
        using var http = fx.Http();
        using var response = await http.PostAsync("v1/chat/completions", Json(ImageRequest(stream: true, 6, ""","stream_options":{"include_usage":true}""")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStringAsync();
        var events = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        Assert.Equal("data: [DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        var usage = chunks[^1];
        Assert.Equal(0, usage.GetProperty("choices").GetArrayLength());
        Assert.True(usage.GetProperty("usage").GetProperty("completion_tokens").GetInt32() is > 0 and <= 6);
        var finish = chunks[^2].GetProperty("choices")[0];
        Assert.Contains(finish.GetProperty("finish_reason").GetString(), new[] { "stop", "length" });

        // The same request whole: the streamed text concatenates to it.
        using var whole = await http.PostAsync("v1/chat/completions", Json(ImageRequest(stream: false, 6)));
        using var doc = JsonDocument.Parse(await whole.Content.ReadAsStringAsync());
        var text = string.Concat(chunks.Select(c => c.GetProperty("choices") is { } choices && choices.GetArrayLength() > 0
            && choices[0].GetProperty("delta").TryGetProperty("content", out var content) ? content.GetString() : ""));
        Assert.Equal(doc.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(), text);
    }

    [Theory]
    [InlineData("{not json", 400, null)]
    [InlineData("""{"messages":[]}""", 400, "messages")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"n":2}""", 400, "n")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"temperature":7}""", 400, "temperature")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}]}""", 400, "tools")]
    [InlineData("""{"messages":[{"role":"tool","content":"42"}]}""", 400, "messages[0].role")]
    [InlineData("""{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}""", 400, "messages[0].content[0].image_url.url")]
    [InlineData("""{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,@@@"}}]}]}""", 400, "messages[0].content[0].image_url.url")]
    [InlineData("""{"messages":[{"role":"user","content":[{"type":"video_url","video_url":{"url":"x"}}]}]}""", 400, "messages[0].content[0].type")]
    [InlineData("""{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}""", 404, "model")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"frequency_penalty":0.5}""", 400, null)]
    [InlineData("""{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}""", 400, null)]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"xml"}}""", 400, "response_format.type")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x"}}}""", 400, "response_format.json_schema.schema")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"string","pattern":"a+"}}}}""", 400, "response_format.json_schema.schema")]
    public async Task Bad_requests_get_OpenAI_errors_naming_the_parameter(string body, int status, string? param)
    {
        using var http = fx.Http();
        using var response = await http.PostAsync("v1/chat/completions", Json(body));
        Assert.Equal(status, (int)response.StatusCode);
        var error = await ErrorOf(response);
        if (param is not null) Assert.Equal(param, error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task Too_many_images_and_too_large_bodies_are_refused_before_any_work()
    {
        using var http = fx.Http();
        var image = $$$"""{"type":"image_url","image_url":{"url":"{{{ServerFixture.ImageDataUri("img2")}}}"}}""";
        var five = $$"""{"messages":[{"role":"user","content":[{{string.Join(",", Enumerable.Repeat(image, 5))}}]}]}""";
        using var many = await http.PostAsync("v1/chat/completions", Json(five));
        Assert.Equal(400, (int)many.StatusCode);
        Assert.Equal("too_many_media", (await ErrorOf(many)).GetProperty("code").GetString());

        var big = $$"""{"messages":[{"role":"user","content":"{{new string('x', 5 * 1024 * 1024)}}"}]}""";
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = Json(big) };
        request.Headers.ExpectContinue = true;   // the server answers from the declared length without taking the upload
        using var large = await http.SendAsync(request);
        Assert.Equal(413, (int)large.StatusCode);
        Assert.Equal("request_too_large", (await ErrorOf(large)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_second_chat_turn_reports_its_image_prefix_as_cached_tokens()
    {
        using var http = fx.Http();
        string image = $$$"""{"type":"image_url","image_url":{"url":"{{{ServerFixture.ImageDataUri("img1")}}}"}}""";
        string first = $$$"""{"role":"user","content":[{{{image}}},{"type":"text","text":"Count the shapes, please."}]}""";
        using var one = JsonDocument.Parse(await (await http.PostAsync("v1/chat/completions", Json($$$"""{"max_tokens":4,"messages":[{{{first}}}]}"""))).Content.ReadAsStringAsync());
        var answer = one.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString();
        int firstPrompt = one.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();

        var second = $$$"""{"max_tokens":4,"messages":[{{{first}}},{"role":"assistant","content":{{{JsonSerializer.Serialize(answer)}}}},{"role":"user","content":"And their colours?"}]}""";
        using var two = JsonDocument.Parse(await (await http.PostAsync("v1/chat/completions", Json(second))).Content.ReadAsStringAsync());
        var usage = two.RootElement.GetProperty("usage");
        int cached = usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        Assert.True(cached >= firstPrompt && cached < usage.GetProperty("prompt_tokens").GetInt32(), $"cached {cached}, first prompt {firstPrompt}");
        using var open = fx.Http(authorized: false);
        var metrics = await open.GetStringAsync("metrics");
        Assert.Contains("llavamodal_prompt_cache_reused_tokens", metrics);
        Assert.Contains("llavamodal_prompt_cache_bytes", metrics);
    }

    [Fact]
    public async Task Health_models_and_metrics_answer_and_v1_needs_the_key()
    {
        using var open = fx.Http(authorized: false);
        using var health = await open.GetAsync("health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Contains("\"ok\"", await health.Content.ReadAsStringAsync());
        using var refused = await open.GetAsync("v1/models");
        Assert.Equal(401, (int)refused.StatusCode);
        Assert.Equal("invalid_api_key", (await ErrorOf(refused)).GetProperty("code").GetString());

        using var http = fx.Http();
        using var models = JsonDocument.Parse(await http.GetStringAsync("v1/models"));
        Assert.Equal(fx.ModelId, models.RootElement.GetProperty("data")[0].GetProperty("id").GetString());
        using var unknown = await http.GetAsync("v1/models/gpt-4o");
        Assert.Equal(404, (int)unknown.StatusCode);

        using var answer = await http.PostAsync("v1/chat/completions", Json(ImageRequest(stream: false, 2)));
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        var metrics = await open.GetStringAsync("metrics");
        Assert.Contains("llavamodal_requests_total", metrics);
        Assert.Contains("llavamodal_tokens_completion_total", metrics);
        Assert.Contains("llavamodal_time_to_first_token_seconds_bucket", metrics);
        Assert.Contains("llavamodal_queue_depth", metrics);
        Assert.Contains("llavamodal_batch_active", metrics);
        Assert.Contains("llavamodal_batch_waiting", metrics);
    }

    [Fact]
    public async Task A_client_that_disconnects_mid_stream_cancels_its_generation()
    {
        using var http = fx.Http();
        // A raw socket, reset as soon as the first event arrives: HttpClient would drain the rest of the stream to reuse
        // its connection, and on a fast machine the whole answer arrives before anything disconnects.
        using (var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp))
        {
            await socket.ConnectAsync(fx.BaseAddress.Host, fx.BaseAddress.Port);
            var body = Encoding.UTF8.GetBytes(ImageRequest(stream: true, 1500));
            var head = $"POST /v1/chat/completions HTTP/1.1\r\nHost: {fx.BaseAddress.Authority}\r\nAuthorization: Bearer {ServerFixture.Key}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n";
            await socket.SendAsync(Encoding.ASCII.GetBytes(head).Concat(body).ToArray());
            var received = new StringBuilder();
            var chunk = new byte[4096];
            while (!received.ToString().Contains("data: ", StringComparison.Ordinal))
            {
                int n = await socket.ReceiveAsync(chunk);
                Assert.True(n > 0, $"the server closed the stream before its first event: {received}");
                received.Append(Encoding.UTF8.GetString(chunk, 0, n));
            }
            Assert.Contains("200 OK", received.ToString(), StringComparison.Ordinal);
            socket.LingerState = new System.Net.Sockets.LingerOption(true, 0);   // close with a reset, as a client that vanishes
        }
        // The server notices at the next token and records the request as abandoned (499) instead of generating on.
        using var open = fx.Http(authorized: false);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        string m;
        while (!(m = await open.GetStringAsync("metrics")).Contains("status=\"499\"", StringComparison.Ordinal))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "the abandoned generation was not cancelled" + string.Join("\n", m.Split('\n').Where(l => l.Contains("requests_total") || l.Contains("batch"))) + $" active {fx.Served.ActiveRequests} waiting {fx.Served.WaitingRequests}");
            await Task.Delay(100);
        }
        // And the model is free again right away.
        using var next = await http.PostAsync("v1/chat/completions", Json(ImageRequest(stream: false, 2)));
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
    }
}
