using LlavaModal.Abstractions.Decoding;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Kernels;
using LlavaModal.Decoder.Generation;
using LlavaModal.Decoder.Llama;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Loading;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tests.Encoders.Vision.Qwen2VL;
using LlavaModal.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Decoder;

/// <summary>
/// The C# decode step (<see cref="LlamaKernelLayers"/>) against the same packed model's modules, and against the
/// reference where the fixture has one: every LLaMA-style shape it covers (biases, GQA, Qwen3's head norms, M-RoPE, a
/// 16-bit cache, rows of unequal length), and the cases it leaves to the modules.
/// </summary>
// Alone: the tests switch the path off and count the steps it takes, which other tests' packed models would disturb.
[CollectionDefinition(nameof(LlamaDecodeStepTests), DisableParallelization = true)]
public class LlamaDecodeStepCollection;

[Collection(nameof(LlamaDecodeStepTests))]
public class LlamaDecodeStepTests(ITestOutputHelper output)
{
    public static TheoryData<string, WeightFormat, ScalarType?> Fixtures_() => new()
    {
        { "llama-tiny", WeightFormat.F32, null },
        // llama-tiny's MLP (176 wide) is not in blocks of 32, so int8 leaves it unpacked; qwen2-tiny's (128) is.
        { "qwen2-tiny", WeightFormat.Int8, null },
        { "llama-tiny", WeightFormat.F32, ScalarType.Float16 },
        { "llama-tiny", WeightFormat.F32, ScalarType.BFloat16 },
        { "qwen2-tiny", WeightFormat.F32, null },
        { "qwen2-tiny", WeightFormat.BF16, null },
    };

    static CausalLanguageModel Load(string directory, WeightFormat format, ScalarType? cache = null)
    {
        using var folder = ModelFolder.Open(directory);
        return folder.LoadDecoder(new ModelLoadOptions { Weights = format, DType = ScalarType.Float32, KvCache = cache });
    }

    /// <summary>Step logits teacher-forced on <paramref name="ids"/>, through the C# step (<paramref name="csharp"/>) or the modules; also how many steps the C# step ran.</summary>
    static (Tensor Logits, long Taken) Steps(CausalLanguageModel model, Tensor prompt, long[] ids, bool csharp)
    {
        long before = LlamaKernelLayers.StepsTaken;
        LlamaKernelLayers.StepsEnabled = csharp;
        try
        {
            var logits = WeightFormatAccuracyTests.StepLogits(model, prompt, ids);
            return (logits, LlamaKernelLayers.StepsTaken - before);
        }
        finally { LlamaKernelLayers.StepsEnabled = true; }
    }

    void AssertSameSteps(CausalLanguageModel model, Tensor prompt, long[] ids, string what, long expectedTaken)
    {
        var (ours, taken) = Steps(model, prompt, ids, csharp: true);
        var (modules, none) = Steps(model, prompt, ids, csharp: false);
        double error = Parity.RelativeError(ours, modules);
        output.WriteLine($"{what}: {taken} of {ids.Length} steps in C#, logit relative error against the modules {error:E2}");
        Assert.Equal(0, none);
        Assert.Equal(expectedTaken, taken);
        // The same products, norms, rotation and attention kernel in the same order: the same numbers.
        Assert.True(error <= 1e-6, $"{what}: relative error {error:E2} against the modules");
    }

    [Theory]
    [MemberData(nameof(Fixtures_))]
    public void Steps_give_the_modules_logits(string fixture, WeightFormat format, ScalarType? cache)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var model = Load(Fixtures.Path_(fixture), format, cache);
        using var expected = SafeTensorsFile.Open(Fixtures.Path_(fixture, "expected", "expected.safetensors"));
        var prompt = expected.Read("q0.input_ids");
        LlamaKernelLayers.StepsEnabled = false;
        long[] ids;
        try { ids = WeightFormatAccuracyTests.Greedy(model, prompt, 12); }
        finally { LlamaKernelLayers.StepsEnabled = true; }
        AssertSameSteps(model, prompt, ids, $"{fixture} {format.Name()} cache {cache?.ToString() ?? "f32"}", ids.Length);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Qwen3_head_norms_and_output_biases_give_the_modules_logits(bool bias)
    {
        using var dir = new TempDir();
        Qwen3Tests.Write(dir.Path, Qwen3Tests.Shape(bias, tied: !bias), Qwen3Tests.Config(bias, tied: !bias), seed: 31);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var model = Load(dir.Path, WeightFormat.F32);
        long[] ids = [288, 349, 306, 394, 269, 286, 391, 375];
        AssertSameSteps(model, tensor(new long[] { 1, 282, 376, 401, 356 }).unsqueeze(0), ids, $"qwen3 bias {bias}", ids.Length);
    }

    [Fact]
    public void Rows_past_a_sliding_window_run_the_modules_and_give_the_same_logits()
    {
        using var dir = new TempDir();
        int window = SlidingWindowTests.Window;
        SlidingWindowTests.Shape(qwen2: false).WriteCheckpoint(dir.Path, SlidingWindowTests.Config("mistral", $", \"sliding_window\": {window}"), seed: 12);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var model = Load(dir.Path, WeightFormat.F32);
        long[] ids = [17, 33, 2, 60, 41, 8, 19, 27];
        // A prompt of one token is a step too; then steps at lengths 1..8. Those whose keys (length + 1) fit the window run in C#.
        AssertSameSteps(model, tensor(new long[] { 5 }).unsqueeze(0), ids, "mistral window 4", expectedTaken: window);
    }

    [Fact]
    public void A_full_or_disposed_cache_is_refused_not_written_past()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var model = Load(Fixtures.LlamaTiny, WeightFormat.F32);
        long[] prompt = [1, 45, 99, 173, 17];
        Tensor Step(IKvCache view, long position) =>
            model.Forward(model.Embed(tensor(new long[] { 201 }).unsqueeze(0)), tensor(new[] { position }).unsqueeze(0), cache: view);
        using (var rows = model.CreateCache(1, prompt.Length + 1))
        using (var view = rows.Prefill(0))
        {
            model.Forward(model.Embed(tensor(prompt).unsqueeze(0)), arange(prompt.Length).unsqueeze(0), cache: view, lastOnly: true);
            long before = LlamaKernelLayers.StepsTaken;
            Step(view, prompt.Length);
            Assert.Equal(1, LlamaKernelLayers.StepsTaken - before);
            // The cache's last position is taken: the next step is the modules' to refuse, with the cache's own error.
            var full = Assert.Throws<InvalidOperationException>(() => Step(view, prompt.Length + 1));
            Assert.Contains("KV cache is full", full.Message);
            Assert.Equal(1, LlamaKernelLayers.StepsTaken - before);
        }
        var disposed = model.CreateCache(1, 16);
        var stale = disposed.Prefill(0);
        disposed.Dispose();
        Assert.Throws<ObjectDisposedException>(() => Step(stale, 0));
    }

    [Fact]
    public void A_padding_mask_other_than_the_rows_own_positions_runs_the_modules()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var model = Load(Fixtures.LlamaTiny, WeightFormat.F32);
        long[] prompt = [1, 45, 99, 173, 17];
        Tensor Step(Tensor? padding, bool csharp, out long taken)
        {
            using var rows = model.CreateCache(2, 16);
            for (int r = 0; r < 2; r++)
            {
                using var view = rows.Prefill(r);
                model.Forward(model.Embed(tensor(prompt).unsqueeze(0)), arange(prompt.Length).unsqueeze(0), cache: view, lastOnly: true);
            }
            long before = LlamaKernelLayers.StepsTaken;
            LlamaKernelLayers.StepsEnabled = csharp;
            try
            {
                using var step = rows.Step(0, [prompt.Length, prompt.Length]);
                var logits = model.Forward(model.Embed(tensor(new long[] { 201, 201 }).unsqueeze(1)), full([2, 1], (long)prompt.Length), padding, step);
                taken = LlamaKernelLayers.StepsTaken - before;
                return logits;
            }
            finally { LlamaKernelLayers.StepsEnabled = true; }
        }
        // Row 1 hides its first position (left padding): not a row's own positions, so the modules apply the mask.
        var hidden = ones([2, prompt.Length + 1], ScalarType.Bool);
        hidden[1, 0] = tensor(false);
        var masked = Step(hidden, csharp: true, out long maskedTaken);
        var reference = Step(hidden, csharp: false, out long _);
        Assert.Equal(0, maskedTaken);
        Parity.AssertClose(masked, reference, 1e-6, "masked step");
        // Every position visible: the rows' own positions, which the C# step takes, and the same logits as no mask.
        var open = Step(ones([2, prompt.Length + 1], ScalarType.Bool), csharp: true, out long openTaken);
        var unmasked = Step(null, csharp: false, out long _);
        Assert.Equal(1, openTaken);
        Parity.AssertClose(open, unmasked, 1e-6, "open step");
        Assert.True(Parity.RelativeError(masked[1], unmasked[1]) > 1e-4, "hiding a position must change row 1's logits");
    }

    [Fact]
    public async Task Rows_of_unequal_length_decoded_together_give_their_lone_logits()
    {
        using var model = LanguageModel.Load(Fixtures.LlamaTiny, new ModelLoadOptions { Weights = WeightFormat.F32 });
        var prompts = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.LlamaTiny, "expected", "index.json")))
            .RootElement.GetProperty("prompts").EnumerateObject().Select(p => p.Value.GetString()!).Take(3).ToArray();
        Assert.Equal(3, prompts.Select(p => model.Tokenizer.Encode(p).Count).Distinct().Count());
        var options = new GenerationOptions { MaxNewTokens = 8 };
        Func<PromptSequence> Sequence(string text) => () =>
        {
            var ids = model.Tokenizer.Encode(text);
            using var input = tensor(ids.Select(i => (long)i).ToArray());
            return new PromptSequence(ids, model.Decoder.Embed(input));
        };
        (GenerationResult Result, List<Tensor> Logits) Alone(string prompt)
        {
            using var engine = new GenerationEngine(model.Decoder, model.Tokenizer, model.EosTokenIds, 1);
            var logits = new List<Tensor>();
            engine.StepLogitsObserver = l => logits.Add(l.clone().DetachFromDisposeScope());
            return (engine.Submit(Sequence(prompt), options).GetAwaiter().GetResult(), logits);
        }
        var alone = prompts.Select(Alone).ToArray();

        long before = LlamaKernelLayers.StepsTaken;
        using var together = new GenerationEngine(model.Decoder, model.Tokenizer, model.EosTokenIds, 4);
        var seen = new List<Tensor>();
        together.StepLogitsObserver = l => seen.Add(l.clone().DetachFromDisposeScope());
        Task<GenerationResult>[] tasks;
        using (EngineHold.On(together)) tasks = [.. prompts.Select(p => together.Submit(Sequence(p), options))];
        var results = await Task.WhenAll(tasks);
        long taken = LlamaKernelLayers.StepsTaken - before;

        // Three prefills, then seven steps of all three rows at their own lengths (a ragged batch), each one C# step.
        Assert.Equal(3 + 7, seen.Count);
        Assert.Equal(7, taken);
        for (int r = 0; r < 3; r++)
        {
            Assert.Equal(alone[r].Result.GeneratedIds, results[r].GeneratedIds);
            for (int step = 1; step < 8; step++)
            {
                Assert.Equal(3, seen[2 + step].shape[0]);
                Parity.AssertClose(seen[2 + step].narrow(0, r, 1), alone[r].Logits[step], 1e-5, $"row {r} step {step}");
            }
        }
    }

    [Fact]
    public void Qwen2_vl_generation_with_an_image_on_packed_layers_matches_the_reference()
    {
        using var model = MultimodalModel.Load(Qwen2VLReference.Directory, [new LlavaVisionFactory()], new ModelLoadOptions { Weights = WeightFormat.F32 });
        using var generate = Qwen2VLReference.Open("generate.safetensors");
        var caseName = ((IEnumerable<object[]>)Qwen2VLReference.Cases()).Select(row => (string)row[0]).First(name => Qwen2VLReference.Case(name).GetProperty("images").GetArrayLength() > 0);
        var c = Qwen2VLReference.Case(caseName);
        var prompt = new MultimodalPrompt(c.GetProperty("prompt_text").GetString()!, [.. c.GetProperty("images").EnumerateArray().Select(i => Qwen2VLReference.Image(i.GetString()!))]);
        var stepLogits = new List<Tensor>();
        model.Engine.StepLogitsObserver = l => stepLogits.Add(l.clone().DetachFromDisposeScope());
        long before = LlamaKernelLayers.StepsTaken;
        var result = model.Generate(prompt, new GenerationOptions { MaxNewTokens = 20, SkipSpecialTokens = false });
        long taken = LlamaKernelLayers.StepsTaken - before;

        Assert.Equal(Qwen2VLReference.Ints(c.GetProperty("new_token_ids")), result.GeneratedIds);
        Assert.Equal(result.GeneratedIds.Count - 1, taken);
        using var ours = cat(stepLogits, 0);
        double error = Parity.RelativeError(ours, generate.Read($"{caseName}.step_logits"));
        output.WriteLine($"{caseName}: {taken} C# steps, step logits relative error {error:E2} against transformers");
        Parity.AssertClose(ours, generate.Read($"{caseName}.step_logits"), 1e-4, $"{caseName} step logits");
    }
}
