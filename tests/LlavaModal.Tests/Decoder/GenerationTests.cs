using LlavaModal.Decoder.Generation;
using LlavaModal.Multimodal;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Decoder;

public sealed class LanguageModelFixture : IDisposable
{
    public LanguageModelFixture()
    {
        Model = LanguageModel.Load(Fixtures.LlamaTiny);
        Expected = LlavaModal.Core.Checkpoints.SafeTensorsFile.Open(Path.Combine(Fixtures.LlamaTiny, "expected", "expected.safetensors"));
        Prompts = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.LlamaTiny, "expected", "index.json")))
            .RootElement.GetProperty("prompts").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
    }

    public LanguageModel Model { get; }
    public LlavaModal.Core.Checkpoints.SafeTensorsFile Expected { get; }
    public IReadOnlyDictionary<string, string> Prompts { get; }

    public void Dispose()
    {
        Model.Dispose();
        Expected.Dispose();
    }
}

public class GenerationTests(LanguageModelFixture fx) : IClassFixture<LanguageModelFixture>
{
    static readonly GenerationOptions Greedy20 = new() { MaxNewTokens = 20 };

    [Theory]
    [InlineData("q0")]
    [InlineData("q1")]
    [InlineData("q2")]
    public void Greedy_generation_matches_the_reference_ids_and_step_logits(string q)
    {
        var stepLogits = new List<Tensor>();
        fx.Model.Engine.StepLogitsObserver = l => stepLogits.Add(l.clone().DetachFromDisposeScope());
        GenerationResult result;
        try { result = fx.Model.Generate(fx.Prompts[q], Greedy20); }
        finally { fx.Model.Engine.StepLogitsObserver = null; }

        var sequences = Parity.Ids(fx.Expected.Read($"{q}.sequences"));
        Assert.Equal(sequences.Take(sequences.Length - 20).Select(i => (int)i), result.PromptIds);
        Assert.Equal(sequences.Skip(sequences.Length - 20).Select(i => (int)i), result.GeneratedIds);
        Assert.Equal(FinishReason.Length, result.FinishReason);
        using var ours = cat(stepLogits, 0);
        Parity.AssertClose(ours, fx.Expected.Read($"{q}.step_logits"), 1e-4, $"{q} step logits");
        foreach (var t in stepLogits) t.Dispose();
    }

    [Fact]
    public void Batched_generation_equals_one_by_one_generation_and_the_reference()
    {
        var results = fx.Model.GenerateBatch([fx.Prompts["q0"], fx.Prompts["q2"]], new GenerationOptions { MaxNewTokens = 10 });
        var expected = fx.Expected.Read("batch.sequences");
        for (int row = 0; row < 2; row++)
        {
            var reference = Parity.Ids(expected[row]).Skip(27).Select(i => (int)i);
            Assert.Equal(reference, results[row].GeneratedIds);
        }
        var single = fx.Model.Generate(fx.Prompts["q2"], new GenerationOptions { MaxNewTokens = 10 });
        Assert.Equal(single.GeneratedIds, results[1].GeneratedIds);
        Assert.Equal(single.Text, results[1].Text);
    }

    [Fact]
    public async Task Streaming_chunks_concatenate_to_the_non_streaming_text()
    {
        var options = new GenerationOptions { MaxNewTokens = 20 };
        var whole = fx.Model.Generate(fx.Prompts["q1"], options);
        var text = new System.Text.StringBuilder();
        GenerationResult? last = null;
        await foreach (var chunk in fx.Model.GenerateStreamingAsync(fx.Prompts["q1"], options))
        {
            Assert.False(chunk.Text.Length > 0 && char.IsHighSurrogate(chunk.Text[^1]), "chunk ends inside a surrogate pair");
            text.Append(chunk.Text);
            last = chunk.Result ?? last;
        }
        Assert.Equal(whole.Text, text.ToString());
        Assert.NotNull(last);
        Assert.Equal(whole.GeneratedIds, last!.GeneratedIds);
    }

    [Fact]
    public void Sampling_with_a_seed_is_reproducible_and_differs_from_greedy()
    {
        var sample = new GenerationOptions { MaxNewTokens = 15, Temperature = 1.5f, TopK = 50, TopP = 0.95f, MinP = 0.01f, Seed = 1234 };
        var a = fx.Model.Generate(fx.Prompts["q0"], sample);
        var b = fx.Model.Generate(fx.Prompts["q0"], sample);
        var c = fx.Model.Generate(fx.Prompts["q0"], sample with { Seed = 99 });
        var greedy = fx.Model.Generate(fx.Prompts["q0"], new GenerationOptions { MaxNewTokens = 15 });
        Assert.Equal(a.GeneratedIds, b.GeneratedIds);
        Assert.NotEqual(a.GeneratedIds, c.GeneratedIds);
        Assert.NotEqual(greedy.GeneratedIds, a.GeneratedIds);
    }

    [Fact]
    public void Top_k_of_one_is_greedy_whatever_the_temperature()
    {
        var greedy = fx.Model.Generate(fx.Prompts["q2"], new GenerationOptions { MaxNewTokens = 10 });
        var topOne = fx.Model.Generate(fx.Prompts["q2"], new GenerationOptions { MaxNewTokens = 10, Temperature = 5f, TopK = 1, Seed = 7 });
        Assert.Equal(greedy.GeneratedIds, topOne.GeneratedIds);
    }

    [Fact]
    public void Repetition_penalty_changes_the_output_and_never_repeats_with_a_huge_penalty()
    {
        var result = fx.Model.Generate(fx.Prompts["q0"], new GenerationOptions { MaxNewTokens = 20, RepetitionPenalty = 1e6f });
        var seen = new HashSet<int>(result.PromptIds);
        foreach (var id in result.GeneratedIds)
        {
            Assert.DoesNotContain(id, seen);
            seen.Add(id);
        }
    }

    [Fact]
    public void Stop_token_ids_and_stop_strings_end_generation()
    {
        var free = fx.Model.Generate(fx.Prompts["q0"], Greedy20);
        var stopId = free.GeneratedIds[4];
        var byId = fx.Model.Generate(fx.Prompts["q0"], Greedy20 with { StopTokenIds = [stopId] });
        Assert.Equal(FinishReason.Stop, byId.FinishReason);
        Assert.Equal(free.GeneratedIds.Take(free.GeneratedIds.ToList().IndexOf(stopId) + 1), byId.GeneratedIds);

        var stop = free.Text.Substring(6, 2);
        var byText = fx.Model.Generate(fx.Prompts["q0"], Greedy20 with { StopStrings = [stop] });
        Assert.Equal(FinishReason.Stop, byText.FinishReason);
        Assert.Equal(free.Text[..free.Text.IndexOf(stop, StringComparison.Ordinal)], byText.Text);
        Assert.True(byText.GeneratedIds.Count < free.GeneratedIds.Count);
    }

    [Fact]
    public void Cancellation_stops_between_tokens()
    {
        using var cts = new CancellationTokenSource();
        int chunks = 0;
        var result = fx.Model.Engine.Run(
            [new PromptSequence(fx.Model.Tokenizer.Encode("Hello"), fx.Model.Decoder.Embed(tensor(new long[] { 1, 2 })))],
            new GenerationOptions { MaxNewTokens = 50 }, cts.Token, (_, _) => { if (++chunks == 3) cts.Cancel(); })[0];
        Assert.Equal(FinishReason.Cancelled, result.FinishReason);
        Assert.Equal(3, result.GeneratedIds.Count);
    }

    [Fact]
    public async Task A_request_cancelled_once_its_prompt_is_prepared_stops_before_the_prefill()
    {
        using var cts = new CancellationTokenSource();
        int forwards = 0;
        fx.Model.Engine.StepLogitsObserver = _ => forwards++;
        try
        {
            // The prompt is built on the worker; cancelling there leaves the prefill's pieces to notice.
            var task = fx.Model.Engine.Submit(() =>
            {
                cts.Cancel();
                return new PromptSequence(fx.Model.Tokenizer.Encode("Hello"), fx.Model.Decoder.Embed(tensor(new long[] { 1, 2 })));
            }, new GenerationOptions { MaxNewTokens = 5 }, cts.Token);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task);
            Assert.True(task.IsCanceled);
            Assert.Equal(0, forwards);
            // The engine goes on with the next request.
            Assert.Equal(5, fx.Model.Generate(fx.Prompts["q0"], new GenerationOptions { MaxNewTokens = 5 }).GeneratedIds.Count);
        }
        finally { fx.Model.Engine.StepLogitsObserver = null; }
    }

    [Fact]
    public void Invalid_options_are_refused_by_name()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => fx.Model.Generate("x", new GenerationOptions { TopP = 0 }));
        Assert.Equal("TopP", e.ParamName);
    }
}
