using LlavaModal.Abstractions.Modality;
using LlavaModal.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using static TorchSharp.torch;

namespace LlavaModal.Tests.SemanticKernel.Services;

/// <summary>A stand-in "audio" plugin (little-endian float32 samples, one token per 4) to prove routing, not audio quality.</summary>
public sealed class FakeAudioEncoder : IModalityEncoder
{
    public string Modality => "audio";
    public string Placeholder => "<audio>";
    public IReadOnlyList<string> MediaTypes { get; } = ["audio/*"];
    public int OutputWidth => 64;
    public int? FixedTokenCount => null;
    public bool Accepts(ModalityInput input) => LlavaModal.Abstractions.Modality.MediaTypes.Matches(input.MediaType, "audio/*");
    public PreparedInput Prepare(ModalityInput input)
    {
        var samples = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(input.Data.Span).ToArray();
        return new PreparedInput(tensor(samples).reshape(-1, 4), samples.Length / 4, input.Describe());
    }
    public Tensor Encode(PreparedInput input, Device device) => input.Values.repeat(1, 16).to(device);
    public void Dispose() { }
}

#pragma warning disable SKEXP0001 // AudioContent is marked experimental in SK; routing it is the point of the test.
public class AudioRoutingTests
{
    [Fact]
    public async Task Audio_content_reaches_a_registered_audio_plugin_in_its_place()
    {
        var builder = Kernel.CreateBuilder();
        builder.Services.AddLlavaModal(o => o.ModelDirectory = Fixtures.LlavaTinyA).AddModalityEncoder<FakeAudioEncoder>("identity");
        builder.AddLlavaChatCompletion(configure: null);
        var kernel = builder.Build();

        float[] samples = [0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f];
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(samples.AsSpan()).ToArray();
        var history = new ChatHistory();
        history.AddUserMessage([new ImageContent(SemanticKernel.LlavaServicesFixture.ImageBytes(), "image/png"), new TextContent("and"), new AudioContent(bytes, "audio/wav"), new TextContent("?")]);
        var answer = await kernel.GetRequiredService<IChatCompletionService>().GetChatMessageContentAsync(history, new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["max_tokens"] = 3 } });

        var raw = Assert.IsType<LlavaModal.Decoder.Generation.GenerationResult>(answer.InnerContent);
        Assert.Equal(raw.PromptIds.Count - 2 + 576 + 2, raw.PromptTokens);
        var model = kernel.GetRequiredService<LlavaModal.Multimodal.MultimodalModel>();
        var direct = model.Generate(model.RenderChat([new(LlavaModal.Tokenizers.Chat.TurnRole.User, "<image>\nand\n<audio>\n?")],
            [LlavaModal.Tests.Multimodal.LlavaTinyFixture.ImageFile("img0"), new ModalityInput(bytes, "audio/wav") { Modality = "audio" }]), new() { MaxNewTokens = 3 });
        Assert.Equal(direct.GeneratedIds, raw.GeneratedIds);
    }
}

#pragma warning disable SKEXP0001
public class WhisperAudioContentTests(LlavaModal.Tests.Encoders.Audio.AttachedAudioFixture fx) : IClassFixture<LlavaModal.Tests.Encoders.Audio.AttachedAudioFixture>
{
    [Fact]
    public async Task A_real_wav_in_AudioContent_reaches_the_whisper_plugin_and_matches_the_direct_api()
    {
        var builder = Kernel.CreateBuilder();
        builder.Services.AddLlavaModal(o => o.ModelDirectory = fx.Dir).AddAudio();
        builder.AddLlavaChatCompletion(configure: null);
        var kernel = builder.Build();
        var wav = File.ReadAllBytes(Path.Combine(Fixtures.Root, "whisper-features", "tone_440hz_0p3s.wav"));

        var history = new ChatHistory();
        history.AddUserMessage([new AudioContent(wav, "audio/wav"), new TextContent("What do you hear?")]);
        var answer = await kernel.GetRequiredService<IChatCompletionService>().GetChatMessageContentAsync(history,
            new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["max_tokens"] = 4 } });

        var raw = Assert.IsType<LlavaModal.Decoder.Generation.GenerationResult>(answer.InnerContent);
        Assert.Equal(raw.PromptIds.Count - 1 + 1500, raw.PromptTokens);
        var direct = fx.Model.Generate(fx.Model.RenderChat([new(LlavaModal.Tokenizers.Chat.TurnRole.User, "What do you hear?")],
            [new ModalityInput(wav, "audio/wav") { Modality = "audio" }]), new() { MaxNewTokens = 4 });
        Assert.Equal(direct.GeneratedIds, raw.GeneratedIds);
    }
}
