using System.Text.Json;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Decoder.Generation;
using LlavaModal.Decoder.Qwen2;
using LlavaModal.Multimodal;
using LlavaModal.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Decoder;

public sealed class Qwen2TinyFixture : IDisposable
{
    public Qwen2TinyFixture()
    {
        Model = LanguageModel.Load(Fixtures.Qwen2Tiny);
        Expected = SafeTensorsFile.Open(Path.Combine(Fixtures.Qwen2Tiny, "expected", "expected.safetensors"));
        Index = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Qwen2Tiny, "expected", "index.json"))).RootElement;
    }

    public LanguageModel Model { get; }
    public Qwen2ForCausalLM Decoder => (Qwen2ForCausalLM)Model.Decoder;
    public SafeTensorsFile Expected { get; }
    public JsonElement Index { get; }

    public string Prompt(string q) => Index.GetProperty("prompts").GetProperty(q).GetString()!;

    public void Dispose()
    {
        Model.Dispose();
        Expected.Dispose();
    }
}

public class Qwen2ParityTests(Qwen2TinyFixture fx, ITestOutputHelper output) : IClassFixture<Qwen2TinyFixture>
{
    [Fact]
    public void The_folder_loads_as_qwen2_with_biased_qkv_and_an_untied_head()
    {
        var names = fx.Decoder.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Contains("model.layers.0.self_attn.q_proj.bias", names);
        Assert.Contains("model.layers.2.self_attn.v_proj.bias", names);
        Assert.DoesNotContain("model.layers.0.self_attn.o_proj.bias", names);
        Assert.DoesNotContain("model.layers.0.mlp.up_proj.bias", names);
        Assert.Contains("lm_head.weight", names);
        var config = fx.Decoder.Config;
        Assert.Equal((1e6, 16, false), (config.RopeTheta, config.HeadDim, config.TieWordEmbeddings));
        Assert.All(Enumerable.Range(0, 3), layer => Assert.Null(config.Windows.WindowOf(layer)));
    }

    [Theory]
    [InlineData("q0")]
    [InlineData("q1")]
    [InlineData("q2")]
    public void Prompt_ids_and_full_sequence_logits_match_the_reference(string q)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = fx.Expected.Read($"{q}.input_ids");
        Assert.Equal(Parity.Ids(ids).Select(i => (int)i), fx.Model.Tokenizer.Encode(fx.Prompt(q)));
        var logits = fx.Decoder.Forward(fx.Decoder.Embed(ids), arange(ids.shape[1]).unsqueeze(0));
        var reference = fx.Expected.Read($"{q}.logits");
        output.WriteLine($"{q} logits relative error {Parity.RelativeError(logits, reference):E2}");
        Parity.AssertClose(logits, reference, 1e-4, $"{q} logits");
        Assert.Equal(Parity.Ids(reference.argmax(-1)), Parity.Ids(logits.argmax(-1)));
    }

    [Fact]
    public void Hidden_states_match_the_reference_layer_by_layer()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = fx.Expected.Read("q1.input_ids");
        var states = new List<Tensor>();
        fx.Decoder.Forward(fx.Decoder.Embed(ids), arange(ids.shape[1]).unsqueeze(0), hiddenStates: states);
        Assert.Equal(4, states.Count);
        for (int i = 0; i < states.Count; i++)
        {
            var reference = fx.Expected.Read($"q1.hidden_states.{i}");
            output.WriteLine($"hidden state {i} relative error {Parity.RelativeError(states[i], reference):E2}");
            Parity.AssertClose(states[i], reference, 1e-4, $"hidden state {i}");
        }
    }

    [Fact]
    public void Cached_decoding_gives_the_same_logits_as_a_full_forward()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = fx.Expected.Read("q1.input_ids");
        long t = ids.shape[1];
        var full = fx.Decoder.Forward(fx.Decoder.Embed(ids), arange(t).unsqueeze(0));
        using var rows = fx.Decoder.CreateCache(1, t);
        using var cache = rows.Prefill(0);
        var step = new List<Tensor> { fx.Decoder.Forward(fx.Decoder.Embed(ids.narrow(1, 0, t - 4)), arange(t - 4).unsqueeze(0), cache: cache) };
        for (long p = t - 4; p < t; p++)
            step.Add(fx.Decoder.Forward(fx.Decoder.Embed(ids.narrow(1, p, 1)), tensor(new[] { p }).unsqueeze(0), cache: cache));
        Parity.AssertClose(cat(step, 1), full, 1e-5, "cached vs full");
    }

    [Fact]
    public void Left_padded_batch_forward_matches_the_reference_mask_positions_and_logits()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = fx.Expected.Read("batch.input_ids");
        var mask = fx.Expected.Read("batch.attention_mask");
        var positions = fx.Expected.Read("batch.position_ids");
        // The mask and positions the reference's generate() builds: left padding, cumsum(mask) - 1, 1 at padding.
        var pad = fx.Model.Tokenizer.PadTokenId!.Value;
        Assert.Equal(Parity.Ids(ids).Select(i => i == pad ? 0L : 1L), Parity.Ids(mask));
        Assert.Equal(Parity.Ids(mask).Zip(Parity.Ids(mask.cumsum(1, ScalarType.Int64))).Select(m => m.First == 0 ? 1L : m.Second - 1), Parity.Ids(positions));
        var logits = fx.Decoder.Forward(fx.Decoder.Embed(ids), positions, padding: mask);
        var reference = fx.Expected.Read("batch.logits");
        long padCount = Parity.Ids(mask[1]).Count(m => m == 0);
        Parity.AssertClose(logits[0], reference[0], 1e-4, "row 0");
        Parity.AssertClose(logits[1].narrow(0, padCount, ids.shape[1] - padCount), reference[1].narrow(0, padCount, ids.shape[1] - padCount), 1e-4, "row 1");
        // The padded row equals the same prompt run alone.
        var alone = fx.Expected.Read("q2.logits")[0];
        Parity.AssertClose(logits[1].narrow(0, padCount, ids.shape[1] - padCount), alone, 1e-4, "row 1 vs unbatched");
    }

    [Theory]
    [InlineData("q0")]
    [InlineData("q1")]
    [InlineData("q2")]
    public void Greedy_generation_matches_the_reference_ids_and_step_logits(string q)
    {
        var stepLogits = new List<Tensor>();
        fx.Model.Engine.StepLogitsObserver = l => stepLogits.Add(l.clone().DetachFromDisposeScope());
        GenerationResult result;
        try { result = fx.Model.Generate(fx.Prompt(q), new GenerationOptions { MaxNewTokens = 20, SkipSpecialTokens = false }); }
        finally { fx.Model.Engine.StepLogitsObserver = null; }

        var sequences = Parity.Ids(fx.Expected.Read($"{q}.sequences"));
        Assert.Equal(sequences.Take(sequences.Length - 20).Select(i => (int)i), result.PromptIds);
        Assert.Equal(sequences.Skip(sequences.Length - 20).Select(i => (int)i), result.GeneratedIds);
        using var ours = cat(stepLogits, 0);
        var reference = fx.Expected.Read($"{q}.step_logits");
        output.WriteLine($"{q} step logits relative error {Parity.RelativeError(ours, reference):E2}");
        Parity.AssertClose(ours, reference, 1e-4, $"{q} step logits");
        Assert.Equal(fx.Index.GetProperty("cases").GetProperty(q).GetProperty("decoded_new").GetString(), result.Text);
        foreach (var t in stepLogits) t.Dispose();
    }

    [Fact]
    public void Batched_generation_equals_the_reference_and_one_by_one_generation()
    {
        var options = new GenerationOptions { MaxNewTokens = 10 };
        var results = fx.Model.GenerateBatch([fx.Prompt("q1"), fx.Prompt("q2")], options);
        var expected = fx.Expected.Read("batch.sequences");
        long width = fx.Expected.Read("batch.input_ids").shape[1];
        for (int row = 0; row < 2; row++)
        {
            Assert.Equal(Parity.Ids(expected[row]).Skip((int)width).Select(i => (int)i), results[row].GeneratedIds);
            Assert.Equal(fx.Model.Generate(fx.Prompt(row == 0 ? "q1" : "q2"), options).GeneratedIds, results[row].GeneratedIds);
        }
    }
}
