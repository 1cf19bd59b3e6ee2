using LlavaModal.Abstractions.Layers;
using LlavaModal.Core.Attention;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Modules;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tests.Multimodal;
using LlavaModal.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Core;

/// <summary>A linear factory that records every layer it builds and hands out TorchSharp's own.</summary>
public sealed class RecordingLinearFactory : ILinearFactory
{
    public List<LinearSpec> Built { get; } = [];
    public string Name => "recording";

    public nn.Module<Tensor, Tensor> Create(LinearSpec spec, ScalarType dtype, Device device)
    {
        lock (Built) Built.Add(spec);
        return TorchLinearFactory.Instance.Create(spec, dtype, device);
    }
}

public class LayerSeamTests
{
    /// <summary>Attention computed the obvious way: the cache repeated per query head, scores, mask, softmax, weighted sum.</summary>
    static Tensor RepeatedReference(Tensor q, Tensor k, Tensor v, Tensor? mask, double scale)
    {
        long groups = q.shape[1] / k.shape[1];
        var kk = k.repeat_interleave(groups, dim: 1);
        var vv = v.repeat_interleave(groups, dim: 1);
        var scores = q.matmul(kk.transpose(2, 3)) * scale;
        if (mask is not null) scores = scores + mask;
        return scores.softmax(-1).matmul(vv);
    }

    [Theory]
    [InlineData("eager", 4, 2, 5, 9)]
    [InlineData("eager", 6, 1, 1, 7)]
    [InlineData("sdpa", 4, 2, 5, 9)]
    [InlineData("sdpa", 8, 8, 3, 3)]
    public void Grouped_query_kernels_equal_attention_over_a_repeated_cache(string kernelName, int heads, int kvHeads, int queries, int keys)
    {
        using var scope = NewDisposeScope();
        IAttentionKernel kernel = kernelName == "eager" ? new EagerAttention() : new SdpaAttention();
        var generator = new Generator(3);
        var q = randn([2, heads, queries, 8], generator: generator);
        var k = randn([2, kvHeads, keys, 8], generator: generator);
        var v = randn([2, kvHeads, keys, 8], generator: generator);
        // A causal mask over the last `queries` keys, with the first key of batch row 1 padded out.
        var padding = ones(2, keys, dtype: ScalarType.Int64);
        padding[1, 0] = tensor(0L);
        var mask = AttentionMask.Build(padding, 2, keys - queries, queries, null, ScalarType.Float32, CPU);
        Parity.AssertClose(kernel.Attend(q, k, v, mask, 0.3), RepeatedReference(q, k, v, mask, 0.3), 1e-5, $"{kernelName} with mask");
        Parity.AssertClose(kernel.Attend(q, k, v, null, 1 / Math.Sqrt(8)), RepeatedReference(q, k, v, null, 1 / Math.Sqrt(8)), 1e-5, $"{kernelName} without mask");
    }

    [Theory]
    [InlineData(8, 8, 1)]
    [InlineData(4, 2, 9)]
    [InlineData(14, 2, 37)]
    public void Causal_attention_without_a_mask_equals_the_masked_reference(int heads, int kvHeads, int length)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(5);
        var q = randn([2, heads, length, 16], generator: generator);
        var k = randn([2, kvHeads, length, 16], generator: generator);
        var v = randn([2, kvHeads, length, 16], generator: generator);
        var mask = AttentionMask.Build(null, 2, 0, length, null, ScalarType.Float32, CPU);
        foreach (double scale in new[] { 0.25, 0.3 })
            Parity.AssertClose(SdpaAttention.AttendCausal(q, k, v, scale), RepeatedReference(q, k, v, mask, scale), 1e-5, $"{heads} heads over {kvHeads}, {length} positions, scale {scale}");
        // Its diagonal is top-left: keys beyond the queries (a cache) would be misaligned, so they are refused.
        var error = Assert.Throws<ArgumentException>(() => SdpaAttention.AttendCausal(q, cat([k, k], 2), cat([v, v], 2), 0.25));
        Assert.Contains($"{2 * length} keys for {length} queries", error.Message);
    }

    [Fact]
    public void Sdpa_selected_in_load_options_gives_the_reference_logits()
    {
        using var eager = LanguageModel.Load(Fixtures.LlamaTiny);
        using var sdpa = LanguageModel.Load(Fixtures.LlamaTiny, new ModelLoadOptions { Attention = "sdpa" });
        using var expected = SafeTensorsFile.Open(Path.Combine(Fixtures.LlamaTiny, "expected", "expected.safetensors"));
        var ids = Parity.Ids(expected.Read("q1.input_ids")).Select(i => (int)i).ToList();
        using var reference = expected.Read("q1.logits").squeeze(0);
        using var logits = sdpa.PromptLogits(ids);
        Parity.AssertClose(logits, reference, 1e-4, "llama-tiny q1 logits with sdpa");
        Assert.Equal(eager.Generate("12345 + 67890 = ?", new() { MaxNewTokens = 20 }).GeneratedIds, sdpa.Generate("12345 + 67890 = ?", new() { MaxNewTokens = 20 }).GeneratedIds);
    }

    [Fact]
    public void Sdpa_runs_the_vision_tower_and_the_decoder_of_llava_to_the_reference_logits()
    {
        using var model = MultimodalModel.Load(Fixtures.LlavaTinyA, options: new ModelLoadOptions { Attention = "sdpa" });
        using var fixture = new LlavaTinyFixture();
        var (logits, _, _) = model.PromptLogits(new MultimodalPrompt(fixture.Prompt("p1"), [fixture.ReferencePixels("img0.pad")]));
        using (logits) Parity.AssertClose(logits, fixture.Logits.Read("p1.img0.pad.logits").squeeze(0), 1e-4, "llava-tiny p1 logits with sdpa");
    }

    [Fact]
    public void A_linear_factory_registered_through_DI_builds_every_linear_layer_and_changes_no_number()
    {
        var recording = new RecordingLinearFactory();
        var services = new ServiceCollection();
        services.AddLlavaModal(o => { o.ModelDirectory = Fixtures.LlavaTinyA; o.Linear = "recording"; }).AddLinearFactory(recording);
        using var provider = services.BuildServiceProvider();
        var model = provider.GetRequiredService<MultimodalModel>();

        // LLaMA: 7 projections × 4 layers + lm_head; CLIP: 6 × 3 layers; the mlp2x_gelu projector: 2.
        Assert.Equal(4 * 7 + 1 + 3 * 6 + 2, recording.Built.Count);
        Assert.Equal(["down_proj", "fc1", "fc2", "gate_proj", "k_proj", "linear_1", "linear_2", "lm_head", "o_proj", "out_proj", "q_proj", "up_proj", "v_proj"],
            recording.Built.Select(s => s.Name).Distinct().Order(StringComparer.Ordinal));

        using var fixture = new LlavaTinyFixture();
        var prompt = new MultimodalPrompt(fixture.Prompt("p1"), [fixture.ReferencePixels("img0.pad")]);
        var (ours, _, _) = model.PromptLogits(prompt);
        var (plain, _, _) = fixture.Pad.PromptLogits(prompt);
        using (ours) using (plain) Assert.True(ours.equal(plain).all().item<bool>(), "the same layers through the factory give the same logits");
    }

    [Fact]
    public void Unknown_kernel_or_linear_factory_names_are_refused_with_the_registered_names()
    {
        var attention = Assert.Throws<ArgumentException>(() => LanguageModel.Load(Fixtures.LlamaTiny, new ModelLoadOptions { Attention = "flash" }));
        Assert.Contains("'flash'", attention.Message);
        Assert.Contains("eager, sdpa", attention.Message);
        var linear = Assert.Throws<ArgumentException>(() => LanguageModel.Load(Fixtures.LlamaTiny, new ModelLoadOptions { Linear = "int3" }));
        Assert.Contains("'int3'", linear.Message);
        Assert.Contains("torch", linear.Message);
    }
}
