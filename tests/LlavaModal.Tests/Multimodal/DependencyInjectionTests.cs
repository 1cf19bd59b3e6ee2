using LlavaModal.Abstractions;
using LlavaModal.Decoder.Generation;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.DependencyInjection;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlavaModal.Tests.Multimodal;

/// <summary>Hosting the model as .NET hosts expect: configuration sections, validation at start, named models, async loading, event ids.</summary>
public class DependencyInjectionTests
{
    static IConfiguration Config(params (string Key, string? Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void Options_bind_from_a_configuration_section()
    {
        var config = Config(("LlavaModal:ModelDirectory", Fixtures.LlavaTinyA), ("LlavaModal:MaxBatch", "3"), ("LlavaModal:MaxContextTokens", "100"), ("LlavaModal:Attention", "sdpa"), ("LlavaModal:PrefillChunkTokens", "48"));
        var services = new ServiceCollection();
        services.AddLlavaModal(config.GetSection("LlavaModal"));
        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<LlavaModalOptions>>().Value;
        Assert.Equal((Fixtures.LlavaTinyA, 3, 100, "sdpa"), (options.ModelDirectory, options.MaxBatch, options.MaxContextTokens, options.Attention));
        var model = provider.GetRequiredService<MultimodalModel>();
        Assert.Equal(48, model.Engine.PrefillChunkTokens);
        // The bound context limit is the model's: 101 positions are refused.
        var e = Assert.Throws<InputLimitException>(() => model.Generate(new MultimodalPrompt(string.Join(' ', Enumerable.Repeat("word", 120)), []), new GenerationOptions { MaxNewTokens = 1 }));
        Assert.Contains("the context is 100 positions", e.Message);
    }

    [Fact]
    public async Task Bad_settings_stop_the_host_at_start_naming_every_key_by_its_path()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Models:Vision:ModelDirectory"] = Fixtures.LlavaTinyA,
            ["Models:Vision:DType"] = "fp17",
            ["Models:Vision:Device"] = "gpu",
            ["Models:Vision:MaxBatch"] = "0",
            ["Models:Vision:ChatTemplate"] = "alpaca",
        });
        builder.Services.AddLlavaModal(builder.Configuration.GetSection("Models:Vision"));
        using var host = builder.Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("Models:Vision:DType: 'fp17' is not one of f32, bf16, f16", e.Message);
        Assert.Contains("Models:Vision:Device: 'gpu' is not a device", e.Message);
        Assert.Contains("Models:Vision:MaxBatch: 0 is below 1", e.Message);
        Assert.Contains("Models:Vision:ChatTemplate: 'alpaca' is not a chat template", e.Message);
        Assert.Equal(4, e.Failures.Count());
    }

    [Fact]
    public async Task Good_settings_start_the_host_and_code_configured_errors_name_the_options_type()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddLlavaModal(o => { o.ModelDirectory = Fixtures.LlavaTinyA; o.DType = "bf16"; o.Device = "cuda:1"; });
        using (var host = builder.Build())
        {
            await host.StartAsync();
            await host.StopAsync();
        }
        var bad = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        bad.Services.AddLlavaModal(o => { o.MaxContextTokens = 0; o.PrefillChunkTokens = 0; o.Weights = "int3"; o.Adapter = Fixtures.LlavaTinyA; o.KvCache = "f8"; });
        using var badHost = bad.Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => badHost.StartAsync());
        Assert.Contains("LlavaModalOptions:ModelDirectory is not set", e.Message);
        Assert.Contains("LlavaModalOptions:MaxContextTokens: 0 is below 1", e.Message);
        Assert.Contains("LlavaModalOptions:PrefillChunkTokens: 0 is below 1", e.Message);
        Assert.Contains("LlavaModalOptions:Weights: 'int3' is not a weight format", e.Message);
        Assert.Contains("LlavaModalOptions:Adapter: '" + Fixtures.LlavaTinyA + "' is not a LoRA adapter folder", e.Message);
        Assert.Contains("LlavaModalOptions:KvCache: 'f8' is not one of f32, bf16, f16", e.Message);
    }

    [Fact]
    public void A_kv_cache_dtype_set_in_options_reaches_the_decoder_s_cache()
    {
        var services = new ServiceCollection();
        services.AddLlavaModal(o => { o.ModelDirectory = Fixtures.LlavaTinyA; o.DType = "f32"; o.KvCache = "f16"; });
        using var provider = services.BuildServiceProvider();
        var model = provider.GetRequiredService<MultimodalModel>();
        Assert.Equal(TorchSharp.torch.ScalarType.Float32, model.Decoder.DType);
        Assert.Equal(TorchSharp.torch.ScalarType.Float16, model.Decoder.CacheDType);
    }

    [Fact]
    public void A_weight_format_set_in_options_reaches_the_loaded_decoder()
    {
        var services = new ServiceCollection();
        services.AddLlavaModal(o => { o.ModelDirectory = Fixtures.LlavaTinyA; o.Weights = "int8"; });
        using var provider = services.BuildServiceProvider();
        var model = provider.GetRequiredService<MultimodalModel>();
        Assert.Contains(model.Decoder.modules(), m => m is LlavaModal.Core.Quantization.PackedLinear { Format: LlavaModal.Core.Kernels.WeightFormat.Int8 });
    }

    [Fact]
    public void Several_models_live_in_one_container_by_name_each_with_its_own_plugins()
    {
        var services = new ServiceCollection();
        services.AddLlavaModal("vision", o => o.ModelDirectory = Fixtures.LlavaTinyA).AddModalityEncoder<ThermalEncoder>("identity");
        services.AddLlavaModal("text", o => o.ModelDirectory = Fixtures.LlamaTiny);
        services.AddLlavaModal(o => o.ModelDirectory = Fixtures.LlavaTinyA);
        using var provider = services.BuildServiceProvider();
        var vision = provider.GetRequiredKeyedService<MultimodalModel>("vision");
        var text = provider.GetRequiredKeyedService<MultimodalModel>("text");
        var unnamed = provider.GetRequiredService<MultimodalModel>();
        Assert.Equal("llava-tiny-a", vision.ModelId);
        Assert.Equal("llama-tiny", text.ModelId);
        Assert.NotSame(vision, unnamed);
        Assert.Contains("thermal", vision.Modalities.Select(m => m.Modality));
        Assert.DoesNotContain("thermal", unnamed.Modalities.Select(m => m.Modality));   // the plugin was added to "vision" only
        Assert.Contains("image", vision.Modalities.Select(m => m.Modality));
        using var alone = LanguageModel.Load(Fixtures.LlamaTiny);
        Assert.Equal(alone.Generate("Hello", new GenerationOptions { MaxNewTokens = 3 }).Text,
            text.Generate(new MultimodalPrompt("Hello", []), new GenerationOptions { MaxNewTokens = 3 }).Text);

        Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddLlavaModal("x", _ => { }).Services.AddLlavaModal("x", _ => { }));
    }

    [Fact]
    public async Task Loading_async_runs_off_the_callers_thread_and_honours_cancellation()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => MultimodalModel.LoadAsync(Fixtures.LlavaTinyA, cancellationToken: cancelled.Token));

        using var model = await MultimodalModel.LoadAsync(Fixtures.LlavaTinyA);
        Assert.Equal("llava-tiny-a", model.ModelId);

        var services = new ServiceCollection();
        services.AddLlavaModal("m", o => o.ModelDirectory = Fixtures.LlavaTinyA);
        await using var provider = services.BuildServiceProvider();
        var loaded = await provider.LoadLlavaModelAsync("m");
        Assert.Same(loaded, provider.GetRequiredKeyedService<MultimodalModel>("m"));
    }

    [Fact]
    public void Loading_logs_with_stable_event_ids_and_a_failed_load_logs_its_error()
    {
        var logs = new ListLoggerProvider();
        var services = new ServiceCollection();
        services.AddSingleton<ILoggerFactory>(logs);
        services.AddLlavaModal(o => o.ModelDirectory = Fixtures.LlavaTinyA).AddModalityEncoder<ThermalEncoder>("linear");
        services.AddLlavaModal("missing", o => o.ModelDirectory = "/nonexistent/model");
        using var provider = services.BuildServiceProvider();
        provider.GetRequiredService<MultimodalModel>();
        Assert.Contains(logs.Entries, e => e.EventId == LlavaModalLogEvents.ModelLoaded && e.Level == LogLevel.Information && e.Message.Contains("llava-tiny-a"));
        Assert.Contains(logs.Entries, e => e.EventId == LlavaModalLogEvents.ProjectorInitialised && e.Level == LogLevel.Warning && e.Message.Contains("thermal"));

        Assert.Throws<CheckpointException>(() => provider.GetRequiredKeyedService<MultimodalModel>("missing"));
        Assert.Contains(logs.Entries, e => e.EventId == LlavaModalLogEvents.ModelLoadFailed && e.Level == LogLevel.Error && e.Message.Contains("/nonexistent/model"));
    }
}
