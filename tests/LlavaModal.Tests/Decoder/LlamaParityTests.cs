using LlavaModal.Core.Checkpoints;
using LlavaModal.Decoder.Llama;
using LlavaModal.Multimodal.Loading;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Decoder;

public sealed class LlamaTinyFixture : IDisposable
{
    public LlamaTinyFixture()
    {
        using var folder = ModelFolder.Open(Fixtures.LlamaTiny);
        Model = (LlamaForCausalLM)folder.LoadDecoder();
        Expected = SafeTensorsFile.Open(Path.Combine(Fixtures.LlamaTiny, "expected", "expected.safetensors"));
    }

    public LlamaForCausalLM Model { get; }
    public SafeTensorsFile Expected { get; }

    public void Dispose()
    {
        Model.Dispose();
        Expected.Dispose();
    }
}

public class LlamaParityTests(LlamaTinyFixture fx) : IClassFixture<LlamaTinyFixture>
{
    [Theory]
    [InlineData("q0")]
    [InlineData("q1")]
    [InlineData("q2")]
    public void Full_sequence_logits_match_the_reference(string q)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = fx.Expected.Read($"{q}.input_ids");
        var positions = arange(ids.shape[1]).unsqueeze(0);
        var logits = fx.Model.Forward(fx.Model.Embed(ids), positions);
        Parity.AssertClose(logits, fx.Expected.Read($"{q}.logits"), 1e-4, $"{q} logits");
    }

    [Fact]
    public void Hidden_states_match_the_reference_layer_by_layer()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = fx.Expected.Read("q1.input_ids");
        var states = new List<Tensor>();
        fx.Model.Forward(fx.Model.Embed(ids), arange(ids.shape[1]).unsqueeze(0), hiddenStates: states);
        Assert.Equal(5, states.Count);
        for (int i = 0; i < states.Count; i++)
            Parity.AssertClose(states[i], fx.Expected.Read($"q1.hidden_states.{i}"), 1e-4, $"hidden state {i}");
    }

    [Fact]
    public void Cached_decoding_gives_the_same_logits_as_a_full_forward()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = fx.Expected.Read("q0.input_ids");
        long t = ids.shape[1];
        var full = fx.Model.Forward(fx.Model.Embed(ids), arange(t).unsqueeze(0));
        using var rows = fx.Model.CreateCache(1, t);
        using var cache = rows.Prefill(0);
        var prefix = ids.narrow(1, 0, t - 3);
        var step = new List<Tensor> { fx.Model.Forward(fx.Model.Embed(prefix), arange(t - 3).unsqueeze(0), cache: cache) };
        for (long p = t - 3; p < t; p++)
            step.Add(fx.Model.Forward(fx.Model.Embed(ids.narrow(1, p, 1)), tensor(new[] { p }).unsqueeze(0), cache: cache));
        Parity.AssertClose(cat(step, 1), full, 1e-5, "cached vs full");
        Assert.Equal(t, cache.Length);
    }

    [Fact]
    public void Batched_left_padded_forward_matches_the_reference()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = fx.Expected.Read("batch.input_ids");
        var mask = fx.Expected.Read("batch.attention_mask");
        var positions = fx.Expected.Read("batch.position_ids");
        var logits = fx.Model.Forward(fx.Model.Embed(ids), positions, padding: mask);
        var reference = fx.Expected.Read("batch.logits");
        // Rows at padding positions are not meaningful: compare row 0 whole, row 1 from its first real token.
        Parity.AssertClose(logits[0], reference[0], 1e-4, "row 0");
        Parity.AssertClose(logits[1].narrow(0, 9, 18), reference[1].narrow(0, 9, 18), 1e-4, "row 1");
    }
}
