using LlavaModal.Decoder.Generation;
using LlavaModal.Multimodal;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Decoder;

public sealed class BatchingFixture : IDisposable
{
    public BatchingFixture()
    {
        Model = LanguageModel.Load(Fixtures.LlamaTiny);
        Prompts = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.LlamaTiny, "expected", "index.json")))
            .RootElement.GetProperty("prompts").EnumerateObject().Select(p => p.Value.GetString()!).ToArray();
    }

    public LanguageModel Model { get; }

    /// <summary>Prompts of different lengths.</summary>
    public string[] Prompts { get; }

    internal GenerationEngine Engine(int maxBatch, IReadOnlyList<int>? eos = null, int prefillChunkTokens = GenerationEngine.DefaultPrefillChunkTokens) =>
        new(Model.Decoder, Model.Tokenizer, eos ?? Model.EosTokenIds, maxBatch, prefillChunkTokens: prefillChunkTokens);

    /// <summary>Builds the prompt on the engine's worker, as the model does.</summary>
    internal Func<PromptSequence> Sequence(string text) => () =>
    {
        var ids = Model.Tokenizer.Encode(text);
        using var input = tensor(ids.Select(i => (long)i).ToArray());
        return new PromptSequence(ids, Model.Decoder.Embed(input));
    };

    public void Dispose() => Model.Dispose();
}

/// <summary>Requests decoded together give what each gives alone, whatever joins, leaves or waits.</summary>
public class ContinuousBatchingTests(BatchingFixture fx) : IClassFixture<BatchingFixture>
{
    static EngineHold Hold(GenerationEngine engine) => EngineHold.On(engine);

    GenerationResult Alone(string prompt, GenerationOptions options, List<Tensor>? logits = null, IReadOnlyList<int>? eos = null)
    {
        using var engine = fx.Engine(1, eos);
        if (logits is not null) engine.StepLogitsObserver = l => logits.Add(l.clone().DetachFromDisposeScope());
        return engine.Submit(fx.Sequence(prompt), options).GetAwaiter().GetResult();
    }

    [Fact]
    public async Task Rows_of_different_lengths_decoded_together_give_the_logits_and_ids_of_lone_runs()
    {
        var options = new GenerationOptions { MaxNewTokens = 12 };
        var (shortPrompt, longPrompt) = (fx.Prompts[0], fx.Prompts[2]);
        var aloneShort = new List<Tensor>();
        var aloneLong = new List<Tensor>();
        var expectedShort = Alone(shortPrompt, options, aloneShort);
        var expectedLong = Alone(longPrompt, options, aloneLong);
        Assert.NotEqual(fx.Model.Tokenizer.Encode(shortPrompt).Count, fx.Model.Tokenizer.Encode(longPrompt).Count);

        using var engine = fx.Engine(4);
        var seen = new List<Tensor>();
        engine.StepLogitsObserver = l => seen.Add(l.clone().DetachFromDisposeScope());
        Task<GenerationResult> a, b;
        using (Hold(engine))
        {
            a = engine.Submit(fx.Sequence(shortPrompt), options);
            b = engine.Submit(fx.Sequence(longPrompt), options);
        }
        var results = await Task.WhenAll(a, b);

        Assert.Equal(expectedShort.GeneratedIds, results[0].GeneratedIds);
        Assert.Equal(expectedLong.GeneratedIds, results[1].GeneratedIds);
        Assert.Equal(expectedShort.Text, results[0].Text);
        // Two prefills [1, V], then steps over both rows [2, V] (a ragged batch: the padding mask at work).
        Assert.Equal(2 + 11, seen.Count);
        Parity.AssertClose(seen[0], aloneShort[0], 1e-5, "short prefill");
        Parity.AssertClose(seen[1], aloneLong[0], 1e-5, "long prefill");
        for (int step = 1; step < 12; step++)
        {
            Assert.Equal(2, seen[1 + step].shape[0]);
            Parity.AssertClose(seen[1 + step].narrow(0, 0, 1), aloneShort[step], 1e-5, $"short step {step}");
            Parity.AssertClose(seen[1 + step].narrow(0, 1, 1), aloneLong[step], 1e-5, $"long step {step}");
        }
        foreach (var t in seen.Concat(aloneShort).Concat(aloneLong)) t.Dispose();
    }

    [Fact]
    public async Task Requests_join_a_running_batch_and_leave_it_without_disturbing_the_others()
    {
        var lengths = new[] { 6, 30, 25, 10 };
        var expected = lengths.Select((n, i) => Alone(fx.Prompts[i % fx.Prompts.Length], new GenerationOptions { MaxNewTokens = n })).ToArray();

        using var engine = fx.Engine(4);
        var rowsPerStep = new List<long>();
        engine.StepLogitsObserver = l => rowsPerStep.Add(l.shape[0]);
        var tasks = new Task<GenerationResult>[4];
        int chunks = 0;
        using (Hold(engine))
        {
            for (int i = 0; i < 3; i++)
            {
                var options = new GenerationOptions { MaxNewTokens = lengths[i] };
                // The longest request submits the fourth from its callback once the first has left, freeing row 0 for a move.
                Action<GenerationChunk>? onChunk = i == 1 ? _ => { if (++chunks == 12) tasks[3] = engine.Submit(fx.Sequence(fx.Prompts[0]), new GenerationOptions { MaxNewTokens = lengths[3] }); } : null;
                tasks[i] = engine.Submit(fx.Sequence(fx.Prompts[i % fx.Prompts.Length]), options, onChunk: onChunk);
            }
        }
        await Task.WhenAll(tasks.Take(3));
        var results = await Task.WhenAll(tasks);

        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(expected[i].GeneratedIds, results[i].GeneratedIds);
            Assert.Equal(expected[i].Text, results[i].Text);
        }
        // Three rows, two after the first left (the last row moved into its place), three again when the fourth joined.
        Assert.Contains(3L, rowsPerStep);
        int twoRows = rowsPerStep.IndexOf(2L);
        Assert.True(twoRows > 0, $"rows per step: {string.Join(",", rowsPerStep)}");
        Assert.Contains(3L, rowsPerStep.Skip(twoRows));
    }

    [Fact]
    public async Task A_long_prompt_is_prefilled_a_piece_per_step_of_the_running_rows_and_both_answers_are_the_lone_ones()
    {
        var (shortPrompt, longPrompt) = (fx.Prompts[0], fx.Prompts[2]);
        var (running, joining) = (new GenerationOptions { MaxNewTokens = 30 }, new GenerationOptions { MaxNewTokens = 6 });
        // No end-of-sequence id: the running request is still decoding when the other's prefill ends.
        var expectedRunning = Alone(shortPrompt, running, eos: []);
        var expectedJoining = Alone(longPrompt, joining, eos: []);
        const int piece = 2;
        int pieces = (fx.Model.Tokenizer.Encode(longPrompt).Count + piece - 1) / piece;
        Assert.True(pieces >= 3, $"{pieces} pieces");

        using var engine = fx.Engine(4, eos: [], prefillChunkTokens: piece);
        var rowsPerStep = new List<long>();
        engine.StepLogitsObserver = l => rowsPerStep.Add(l.shape[0]);
        // Callbacks run on the worker, in the order of its work: the running request's tokens count its steps.
        int steps = 0, atAdmission = -1, atFirstToken = -1;
        Task<GenerationResult>? joined = null;
        var build = fx.Sequence(longPrompt);
        var first = engine.Submit(fx.Sequence(shortPrompt), running, onChunk: _ =>
        {
            if (++steps == 3)
                joined = engine.Submit(() => { atAdmission = steps; return build(); }, joining, onChunk: _ => { if (atFirstToken < 0) atFirstToken = steps; });
        });
        var result = await first;
        var joinedResult = await joined!;

        Assert.Equal(expectedRunning.GeneratedIds, result.GeneratedIds);
        Assert.Equal(expectedJoining.GeneratedIds, joinedResult.GeneratedIds);
        Assert.Equal(expectedJoining.Text, joinedResult.Text);
        // One decode step of the running row between consecutive pieces (before: none until the whole prompt was in) ...
        Assert.Equal(pieces - 1, atFirstToken - atAdmission);
        // ... and then both rows decode together.
        Assert.Contains(2L, rowsPerStep);
    }

    [Fact]
    public async Task A_request_cancelled_between_its_prompts_pieces_stops_there_and_the_running_row_is_untouched()
    {
        var (shortPrompt, longPrompt) = (fx.Prompts[0], fx.Prompts[2]);
        var (running, joining) = (new GenerationOptions { MaxNewTokens = 30 }, new GenerationOptions { MaxNewTokens = 6 });
        var expectedRunning = Alone(shortPrompt, running, eos: []);
        var expectedJoining = Alone(longPrompt, joining, eos: []);

        using var engine = fx.Engine(4, eos: [], prefillChunkTokens: 2);
        using var cancel = new CancellationTokenSource();
        int steps = 0, atAdmission = -1;
        Task<GenerationResult>? joined = null;
        var build = fx.Sequence(longPrompt);
        var first = engine.Submit(fx.Sequence(shortPrompt), running, onChunk: _ =>
        {
            if (++steps == 3) joined = engine.Submit(() => { atAdmission = steps; return build(); }, joining, cancel.Token);
            // Its first piece is in and a step of this row ran: cancelled before its second piece.
            else if (atAdmission > 0 && steps == atAdmission + 1) cancel.Cancel();
        });
        var result = await first;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => joined!);
        Assert.Equal(expectedRunning.GeneratedIds, result.GeneratedIds);
        // The engine goes on: the same prompt, submitted again, is answered as alone.
        var again = await engine.Submit(fx.Sequence(longPrompt), joining);
        Assert.Equal(expectedJoining.GeneratedIds, again.GeneratedIds);
    }

    [Fact]
    public async Task At_most_max_batch_rows_decode_together_and_the_rest_wait()
    {
        var options = new GenerationOptions { MaxNewTokens = 8 };
        var expected = fx.Prompts.Select(p => Alone(p, options)).ToArray();
        using var engine = fx.Engine(2);
        long most = 0;
        engine.StepLogitsObserver = l => most = Math.Max(most, l.shape[0]);
        var prompts = Enumerable.Range(0, 5).Select(i => fx.Prompts[i % fx.Prompts.Length]).ToArray();
        var results = engine.Run([], options, CancellationToken.None);
        Assert.Empty(results);
        var tasks = prompts.Select(p => engine.Submit(fx.Sequence(p), options)).ToArray();
        var done = await Task.WhenAll(tasks);
        Assert.Equal(2, most);
        for (int i = 0; i < 5; i++) Assert.Equal(expected[i % fx.Prompts.Length].GeneratedIds, done[i].GeneratedIds);
        Assert.Contains(done, r => r.Queued > TimeSpan.Zero);
    }

    [Fact]
    public async Task Seeded_sampling_and_penalties_are_per_request_whatever_shares_the_batch()
    {
        var sampled = new GenerationOptions { MaxNewTokens = 15, Temperature = 1.2f, TopK = 40, Seed = 7 };
        var penalised = new GenerationOptions { MaxNewTokens = 15, RepetitionPenalty = 1.8f };
        var greedy = new GenerationOptions { MaxNewTokens = 15 };
        var expected = new[] { Alone(fx.Prompts[0], sampled), Alone(fx.Prompts[1], penalised), Alone(fx.Prompts[2], greedy) };

        using var engine = fx.Engine(4);
        Task<GenerationResult>[] tasks;
        using (Hold(engine))
            tasks = [engine.Submit(fx.Sequence(fx.Prompts[0]), sampled), engine.Submit(fx.Sequence(fx.Prompts[1]), penalised), engine.Submit(fx.Sequence(fx.Prompts[2]), greedy)];
        var results = await Task.WhenAll(tasks);
        for (int i = 0; i < 3; i++) Assert.Equal(expected[i].GeneratedIds, results[i].GeneratedIds);
        Assert.NotEqual(results[2].GeneratedIds, Alone(fx.Prompts[2], sampled).GeneratedIds);
    }

    [Fact]
    public async Task A_request_cancelled_while_waiting_never_runs_and_the_others_are_untouched()
    {
        using var engine = fx.Engine(1);
        using var cancel = new CancellationTokenSource();
        int built = 0;
        Task<GenerationResult> first, second;
        using (Hold(engine))
        {
            first = engine.Submit(fx.Sequence(fx.Prompts[0]), new GenerationOptions { MaxNewTokens = 10 });
            second = engine.Submit(() => { built++; return fx.Sequence(fx.Prompts[1])(); }, new GenerationOptions { MaxNewTokens = 10 }, cancel.Token);
            cancel.Cancel();
        }
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => second);
        Assert.Equal(10, (await first).GeneratedIds.Count);
        Assert.Equal(0, built);
    }

    [Fact]
    public async Task A_failing_prompt_or_callback_fails_its_own_request_only()
    {
        using var engine = fx.Engine(4);
        var options = new GenerationOptions { MaxNewTokens = 10 };
        var expected = Alone(fx.Prompts[0], options);
        Task<GenerationResult> good, badPrompt, badCallback;
        using (Hold(engine))
        {
            good = engine.Submit(fx.Sequence(fx.Prompts[0]), options);
            badPrompt = engine.Submit(() => throw new InvalidDataException("unreadable image"), options);
            badCallback = engine.Submit(fx.Sequence(fx.Prompts[1]), options, onChunk: c => throw new IOException("client went away"));
        }
        Assert.Equal("unreadable image", (await Assert.ThrowsAsync<InvalidDataException>(() => badPrompt)).Message);
        await Assert.ThrowsAsync<IOException>(() => badCallback);
        Assert.Equal(expected.GeneratedIds, (await good).GeneratedIds);
        // The engine keeps serving.
        Assert.Equal(expected.GeneratedIds, (await engine.Submit(fx.Sequence(fx.Prompts[0]), options)).GeneratedIds);
    }

    [Fact]
    public async Task Disposing_fails_waiting_requests_and_lets_running_ones_finish()
    {
        var engine = fx.Engine(1);
        var started = new TaskCompletionSource();
        var running = engine.Submit(fx.Sequence(fx.Prompts[0]), new GenerationOptions { MaxNewTokens = 40 }, onChunk: _ => started.TrySetResult());
        await started.Task;
        var waiting = engine.Submit(fx.Sequence(fx.Prompts[1]), new GenerationOptions { MaxNewTokens = 5 });
        engine.Dispose();
        Assert.Equal(40, (await running).GeneratedIds.Count);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => waiting);
        Assert.Throws<ObjectDisposedException>(() => { _ = engine.Submit(fx.Sequence(fx.Prompts[0]), new GenerationOptions()); });
        Assert.Throws<ObjectDisposedException>(() => engine.Invoke(() => 1));
    }

    [Fact]
    public void A_sequence_outgrowing_its_first_cache_reservation_agrees_with_a_full_forward_at_every_position()
    {
        // 300 new tokens pass the 256 reserved at admission, so the cache is regrown (copied) mid-generation.
        var result = Alone(fx.Prompts[1], new GenerationOptions { MaxNewTokens = 300, SkipSpecialTokens = false }, eos: []);
        Assert.Equal(300, result.GeneratedIds.Count);
        var all = result.PromptIds.Concat(result.GeneratedIds).ToList();
        using var logits = fx.Model.PromptLogits(all);
        var argmax = logits.argmax(-1).data<long>().ToArray();
        int prompt = result.PromptIds.Count;
        for (int i = 0; i < result.GeneratedIds.Count - 1; i++)
            Assert.True(argmax[prompt - 1 + i] == result.GeneratedIds[i], $"token {i}: cached decoding chose {result.GeneratedIds[i]}, a full forward {argmax[prompt - 1 + i]}");
    }
}
