using LlavaModal.Abstractions.Modality;
using LlavaModal.Decoder.Generation;
using LlavaModal.Multimodal;
using LlavaModal.Tests.Multimodal;
using LlavaModal.Tests.Support;
using LlavaModal.Tokenizers.Chat;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using static TorchSharp.torch;

namespace LlavaModal.Tests.SemanticKernel.Services;

/// <summary>A plugin with a media type no built-in code knows, counting how often it is asked to route and prepare.</summary>
public sealed class CountingSensorEncoder : IModalityEncoder
{
    int accepts, prepares;

    public int AcceptsCalls => accepts;
    public int PrepareCalls => prepares;
    public string Modality => "sensor";
    public string Placeholder => "<sensor>";
    public IReadOnlyList<string> MediaTypes { get; } = ["application/x-sensor"];
    public int OutputWidth => 64;
    public int? FixedTokenCount => null;

    public bool Accepts(ModalityInput input)
    {
        Interlocked.Increment(ref accepts);
        // Recognises its own bytes when the type is unknown: a "SENS" magic number.
        return input.Data.Length >= 4 && input.Data.Span[..4].SequenceEqual("SENS"u8);
    }

    public PreparedInput Prepare(ModalityInput input)
    {
        Interlocked.Increment(ref prepares);
        var readings = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(input.Data.Span[4..]).ToArray();
        return new PreparedInput(tensor(readings).reshape(-1, 4), readings.Length / 4, input.Describe());
    }

    public Tensor Encode(PreparedInput input, Device device) => (input.Values.repeat(1, 16) / 10f).to(device);

    public void Dispose() { }

    public static byte[] Bytes(params float[] readings) =>
        [.. "SENS"u8.ToArray(), .. System.Runtime.InteropServices.MemoryMarshal.AsBytes(readings.AsSpan()).ToArray()];
}

public class RoutedOnceTests
{
    static (ServiceProvider Provider, CountingSensorEncoder Sensor) Services()
    {
        var services = new ServiceCollection();
        services.AddLlavaModal(o => o.ModelDirectory = Fixtures.LlavaTinyA).AddModalityEncoder<CountingSensorEncoder>("identity");
        services.AddLlavaChatClient(configure: null);
        var provider = services.BuildServiceProvider();
        return (provider, provider.GetRequiredService<CountingSensorEncoder>());
    }

    [Fact]
    public async Task A_custom_media_type_reaches_its_plugin_through_IChatClient_prepared_once_and_routed_by_its_declared_type()
    {
        var (provider, sensor) = Services();
        using var _ = provider;
        var client = provider.GetRequiredService<IChatClient>();
        var bytes = CountingSensorEncoder.Bytes(1, 2, 3, 4, 5, 6, 7, 8);
        var request = new ChatMessage(ChatRole.User, [new DataContent(bytes, "application/x-sensor"), new TextContent("What does the sensor say?")]);
        var response = await client.GetResponseAsync([request], new ChatOptions { MaxOutputTokens = 4 });

        Assert.Equal(1, sensor.PrepareCalls);
        Assert.Equal(0, sensor.AcceptsCalls);   // its declared media type decided; nobody sniffed the bytes
        // Same answer as the library with the same prompt: the sensor's two tokens reached the decoder in its place.
        var model = provider.GetRequiredService<MultimodalModel>();
        var direct = model.Generate(model.RenderChat([new(TurnRole.User, "<sensor>\nWhat does the sensor say?")], [new ModalityInput(bytes, "application/x-sensor")]),
            new GenerationOptions { MaxNewTokens = 4 });
        Assert.Equal(direct.Text, response.Text);
        Assert.Equal(direct.PromptTokens, response.Usage!.InputTokenCount);
    }

    [Fact]
    public async Task Untyped_bytes_are_recognised_by_the_plugin_once_and_prepared_once()
    {
        var (provider, sensor) = Services();
        using var _ = provider;
        var client = provider.GetRequiredService<IChatClient>();
        var request = new ChatMessage(ChatRole.User, [new DataContent(CountingSensorEncoder.Bytes(9, 9, 9, 9), "application/octet-stream"), new TextContent("?")]);
        await client.GetResponseAsync([request], new ChatOptions { MaxOutputTokens = 2 });
        // The image plugin declines the bytes first; the sensor recognises them: one look each, one preparation.
        Assert.Equal(1, sensor.AcceptsCalls);
        Assert.Equal(1, sensor.PrepareCalls);
    }

    [Fact]
    public void The_library_routes_an_input_where_it_enters_and_prepares_it_once_per_request()
    {
        var (provider, sensor) = Services();
        using var _ = provider;
        var model = provider.GetRequiredService<MultimodalModel>();
        var input = new ModalityInput(CountingSensorEncoder.Bytes(1, 2, 3, 4));
        var prompt = model.RenderChat([new(TurnRole.User, "Read it.")], [input, LlavaTinyFixture.ImageFile("img2")]);
        Assert.Equal(1, sensor.AcceptsCalls);
        Assert.Equal("sensor", prompt.Inputs[0].Modality);
        Assert.Equal("image", prompt.Inputs[1].Modality);

        model.Generate(prompt, new GenerationOptions { MaxNewTokens = 2 });
        model.Generate(prompt, new GenerationOptions { MaxNewTokens = 2 });
        Assert.Equal(1, sensor.AcceptsCalls);   // routing happened once, when the prompt was rendered
        Assert.Equal(2, sensor.PrepareCalls);   // once per request
    }
}
