using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Decoder.Generation;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Multimodal;

/// <summary>
/// A made-up modality that exists only in this test project: a "thermal" reading is a list of temperatures
/// (little-endian float32), one token per 4 readings, each token the readings repeated to the decoder's width.
/// </summary>
public sealed class ThermalEncoder : IModalityEncoder
{
    public const int Width = 64;

    public string Modality => "thermal";
    public string Placeholder => "<thermal>";
    public IReadOnlyList<string> MediaTypes { get; } = ["application/x-thermal"];
    public int OutputWidth => Width;
    public int? FixedTokenCount => null;
    public bool Accepts(ModalityInput input) => LlavaModal.Abstractions.Modality.MediaTypes.Matches(input.MediaType, "application/x-thermal");

    public PreparedInput Prepare(ModalityInput input)
    {
        var readings = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(input.Data.Span).ToArray();
        if (readings.Length == 0 || readings.Length % 4 != 0)
            throw new LlavaModalException($"{input.Describe()}: expected a multiple of 4 readings, got {readings.Length}.");
        return new PreparedInput(tensor(readings).reshape(-1, 4), readings.Length / 4, input.Describe());
    }

    public Tensor Encode(PreparedInput input, Device device) => (input.Values.repeat(1, Width / 4) / 100f).to(device);

    public void Dispose() { }
}

public class CustomModalityTests
{
    static ModalityInput Thermal(params float[] readings) =>
        new(System.Runtime.InteropServices.MemoryMarshal.AsBytes(readings.AsSpan()).ToArray(), "application/x-thermal", "sensor-1");

    [Fact]
    public void A_plugin_registered_through_DI_is_spliced_and_decoded_with_no_library_change()
    {
        var services = new ServiceCollection();
        services.AddLlavaModal(o => o.ModelDirectory = Fixtures.LlavaTinyA).AddModalityEncoder<ThermalEncoder>("identity");
        using var provider = services.BuildServiceProvider();
        var model = provider.GetRequiredService<MultimodalModel>();

        Assert.Equal(new[] { "image", "thermal" }, model.Modalities.Select(m => m.Encoder.Modality));
        var prompt = new MultimodalPrompt("USER: <image>\nand <thermal>\nWhat is hot? ASSISTANT:",
            [LlavaTinyFixture.ImageFile("img2"), Thermal(20, 21, 22, 23, 90, 95, 99, 97)]);
        var (logits, ids, spans) = model.PromptLogits(prompt);
        Assert.Equal(new[] { "image", "thermal" }, spans.Select(s => s.Modality));
        Assert.Equal(576, spans[0].Length);
        Assert.Equal(2, spans[1].Length);
        Assert.Equal(ids.Count - 2 + 576 + 2, logits.shape[0]);
        Assert.Contains(model.PlaceholderIds["thermal"], ids);

        // Identity projector: the decoder sees exactly the plugin's features at the thermal positions.
        using var embeds = model.InputsEmbeds(prompt);
        using var thermal = embeds.narrow(0, spans[1].Start, 2);
        Assert.Equal(0.9f, thermal[1, 0].item<float>(), 5);
        Assert.Equal(0.97f, thermal[1, 63].item<float>(), 5);

        var result = model.Generate(prompt, new GenerationOptions { MaxNewTokens = 5 });
        Assert.Equal(5, result.GeneratedIds.Count);
        logits.Dispose();
    }

    [Fact]
    public void A_linear_projector_without_weights_is_initialised_and_the_plugin_still_answers()
    {
        var services = new ServiceCollection();
        services.AddLlavaModal(o => o.ModelDirectory = Fixtures.LlavaTinyA).AddModalityEncoder<ThermalEncoder>("mlp2x_gelu", seed: 5);
        using var provider = services.BuildServiceProvider();
        var model = provider.GetRequiredService<MultimodalModel>();
        var binding = model.Modalities.Single(m => m.Encoder.Modality == "thermal");
        Assert.Equal("mlp2x_gelu", binding.Projector.Type);
        var result = model.Generate(new MultimodalPrompt("USER: <thermal>\nHot? ASSISTANT:", [Thermal(1, 2, 3, 4)]), new GenerationOptions { MaxNewTokens = 3 });
        Assert.Equal(3, result.GeneratedIds.Count);
    }

    [Fact]
    public void Input_for_a_modality_without_a_plugin_is_refused_by_name()
    {
        var services = new ServiceCollection();
        services.AddLlavaModal(o => o.ModelDirectory = Fixtures.LlavaTinyA);
        using var provider = services.BuildServiceProvider();
        var model = provider.GetRequiredService<MultimodalModel>();
        var e = Assert.Throws<LlavaModalException>(() => model.Generate(new MultimodalPrompt("x", [Thermal(1, 2, 3, 4) with { Modality = "thermal" }])));
        Assert.Contains("no 'thermal' plugin", e.Message);
        var sniffed = Assert.Throws<LlavaModalException>(() => model.Generate(new MultimodalPrompt("x", [Thermal(1, 2, 3, 4)])));
        Assert.Contains("application/x-thermal", sniffed.Message);
    }

    [Fact]
    public void Missing_model_directory_option_is_a_clear_error()
    {
        var services = new ServiceCollection();
        services.AddLlavaModal();
        using var provider = services.BuildServiceProvider();
        var e = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => provider.GetRequiredService<MultimodalModel>());
        Assert.Contains("LlavaModalOptions:ModelDirectory is not set", e.Message);
    }
}

/// <summary>A plugin whose preparation takes as long as its caller lets it: it waits on the request's cancellation.</summary>
public sealed class PatientEncoder : IModalityEncoder
{
    public ManualResetEventSlim Started { get; } = new();
    public bool SawCancellation { get; private set; }

    public string Modality => "slow";
    public string Placeholder => "<slow>";
    public IReadOnlyList<string> MediaTypes { get; } = ["application/x-slow"];
    public int OutputWidth => ThermalEncoder.Width;
    public int? FixedTokenCount => 1;
    public bool Accepts(ModalityInput input) => LlavaModal.Abstractions.Modality.MediaTypes.Matches(input.MediaType, "application/x-slow");

    public PreparedInput Prepare(ModalityInput input) => Prepare(input, CancellationToken.None);

    public PreparedInput Prepare(ModalityInput input, CancellationToken cancellation)
    {
        Started.Set();
        SawCancellation = cancellation.WaitHandle.WaitOne(TimeSpan.FromSeconds(60));
        cancellation.ThrowIfCancellationRequested();
        return new PreparedInput(zeros(1, 4), 1, input.Describe());
    }

    public Tensor Encode(PreparedInput input, Device device) => zeros(1, OutputWidth, device: device);

    public void Dispose() => Started.Dispose();
}

public class PluginCancellationTests
{
    [Fact]
    public async Task Cancelling_a_request_reaches_the_plugin_and_frees_the_model_for_the_next()
    {
        var services = new ServiceCollection();
        services.AddLlavaModal(o => o.ModelDirectory = Fixtures.LlavaTinyA).AddModalityEncoder<PatientEncoder>("identity");
        using var provider = services.BuildServiceProvider();
        var model = provider.GetRequiredService<MultimodalModel>();
        var plugin = (PatientEncoder)model.Modalities.Single(m => m.Modality == "slow").Encoder;

        using var cancel = new CancellationTokenSource();
        var slow = model.GenerateAsync(new MultimodalPrompt("USER: <slow> what? ASSISTANT:", [new ModalityInput(new byte[] { 1 }, "application/x-slow")]),
            new GenerationOptions { MaxNewTokens = 4 }, cancel.Token);
        Assert.True(plugin.Started.Wait(TimeSpan.FromSeconds(60)));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => slow);
        Assert.True(plugin.SawCancellation);
        Assert.True(slow.IsCanceled);
        var next = await model.GenerateAsync(new MultimodalPrompt("USER: hello ASSISTANT:", []), new GenerationOptions { MaxNewTokens = 3 });
        Assert.Equal(3, next.GeneratedIds.Count);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"the model was held {clock.Elapsed} after the cancellation");
    }
}
