using LlavaModal.Abstractions.Decoding;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Kernels;
using LlavaModal.Decoder.Llama;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Loading;
using LlavaModal.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Decoder;

/// <summary>
/// Prompt pieces through the layers in C# (<see cref="LlamaKernelLayers.TryPrompt"/>) against the same packed model's
/// modules, and against the float64 <see cref="ReferenceDecoder"/>: whole prompts and prompts in pieces (later pieces
/// attend to cached positions), the fixtures' 16-wide heads (one query at a time) and 64-wide ones (the blockwise prompt
/// kernel on AVX-512), 16-bit caches, Qwen3's head norms and biases; the keys and values a piece writes are checked by
/// the decode steps that read them; and the cases it leaves to the modules.
/// </summary>
// With the decode-step tests: both switch the C# paths off and count what they take.
[Collection(nameof(LlamaDecodeStepTests))]
public class LlamaPromptPieceTests(ITestOutputHelper output)
{
    /// <summary>A LLaMA-style shape with 64-wide heads (two query heads on one key/value head), MLP in blocks of 32.</summary>
    static readonly ReferenceDecoder Wide = new() { Vocab = 64, Hidden = 128, Intermediate = 160, Layers = 2, Heads = 2, KvHeads = 1, HeadDim = 64, Eps = 1e-5 };

    const string WideConfig = """
        {"model_type": "mistral", "vocab_size": 64, "hidden_size": 128, "intermediate_size": 160, "num_hidden_layers": 2,
         "num_attention_heads": 2, "num_key_value_heads": 1, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 256,
         "tie_word_embeddings": false, "torch_dtype": "float32", "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2}
        """;

    /// <summary>Four 64-wide query heads on two key/value heads: a 16-bit cache is widened one key/value head at a time.</summary>
    static readonly ReferenceDecoder Grouped = Wide with { Hidden = 256, Heads = 4, KvHeads = 2 };

    static readonly string GroupedConfig = WideConfig.Replace("\"hidden_size\": 128", "\"hidden_size\": 256")
        .Replace("\"num_attention_heads\": 2", "\"num_attention_heads\": 4").Replace("\"num_key_value_heads\": 1", "\"num_key_value_heads\": 2");

    /// <summary>70 ids: past one block of 64 keys and two of 32 queries.</summary>
    static long[] WideIds() => [.. Enumerable.Range(0, 70).Select(i => (long)(i * 37 % 61 + 3))];

    static CausalLanguageModel Load(string directory, WeightFormat format, ScalarType? cache = null)
    {
        using var folder = ModelFolder.Open(directory);
        return folder.LoadDecoder(new ModelLoadOptions { Weights = format, DType = ScalarType.Float32, KvCache = cache });
    }

    /// <summary>
    /// The logits of every prompt position, <paramref name="ids"/> prefilled <paramref name="piece"/> at a time, then
    /// those of decode steps on <paramref name="after"/>; through the C# pieces (<paramref name="csharp"/>) or the
    /// modules; also how many pieces the C# path took.
    /// </summary>
    static (Tensor Prompt, Tensor Steps, long Pieces) Run(CausalLanguageModel model, long[] ids, int piece, long[] after, bool csharp)
    {
        long before = LlamaKernelLayers.PiecesTaken;
        LlamaKernelLayers.PromptsEnabled = csharp;
        try
        {
            using var scope = NewDisposeScope();
            using var rows = model.CreateCache(1, ids.Length + after.Length);
            using var cache = rows.Prefill(0);
            var prompt = new List<Tensor>();
            for (int start = 0; start < ids.Length; start += piece)
            {
                int n = Math.Min(piece, ids.Length - start);
                prompt.Add(model.Forward(model.Embed(tensor(ids[start..(start + n)]).unsqueeze(0)), arange(start, start + n).unsqueeze(0), cache: cache)[0]);
            }
            var steps = after.Select((id, i) => model.Forward(model.Embed(tensor(new[] { id }).unsqueeze(0)), tensor(new[] { (long)ids.Length + i }).unsqueeze(0), cache: cache)[0, -1]).ToList();
            return (cat(prompt, 0).MoveToOuterDisposeScope(), (steps.Count > 0 ? stack(steps) : empty(0)).MoveToOuterDisposeScope(), LlamaKernelLayers.PiecesTaken - before);
        }
        finally { LlamaKernelLayers.PromptsEnabled = true; }
    }

    /// <summary>Pieces of more than one position (a piece of one is a decode step).</summary>
    static int PiecesOf(int length, int piece) => length / piece + (length % piece > 1 ? 1 : 0);

    void AssertSamePrompt(CausalLanguageModel model, long[] ids, int piece, string what, double tolerance = 1e-5)
    {
        long[] after = [7, 11, 5];
        var (ours, oursSteps, taken) = Run(model, ids, piece, after, csharp: true);
        var (modules, modulesSteps, none) = Run(model, ids, piece, after, csharp: false);
        double error = Parity.RelativeError(ours, modules), stepError = Parity.RelativeError(oursSteps, modulesSteps);
        output.WriteLine($"{what}, pieces of {piece}: {taken} in C#, prompt logits {error:E2} and later steps {stepError:E2} from the modules'");
        Assert.Equal(0, none);
        Assert.Equal(PiecesOf(ids.Length, piece), taken);
        Assert.True(error <= tolerance, $"{what}: prompt logits {error:E2} from the modules'");
        // The steps read the keys and values the pieces wrote.
        Assert.True(stepError <= tolerance, $"{what}: later steps {stepError:E2} from the modules'");
    }

    // The fixtures' 16-wide heads attend through libtorch in the modules and through the per-query kernel here, so
    // the two differ by rounding (the wide-head test below compares bit for bit, both on the blockwise kernel). int8
    // rounds every product's activations to 8 bits, where a difference of 1e-7 can flip a rounding: 1e-2.
    public static TheoryData<string, WeightFormat, ScalarType?, double> Fixtures_() => new()
    {
        { "llama-tiny", WeightFormat.F32, null, 1e-5 },
        { "qwen2-tiny", WeightFormat.Int8, null, 1e-2 },
        { "llama-tiny", WeightFormat.F32, ScalarType.Float16, 1e-4 },
        { "qwen2-tiny", WeightFormat.BF16, ScalarType.BFloat16, 1e-5 },
    };

    [Theory]
    [MemberData(nameof(Fixtures_))]
    public void Fixture_prompts_whole_and_in_pieces_give_the_modules_logits(string fixture, WeightFormat format, ScalarType? cache, double tolerance)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var model = Load(Fixtures.Path_(fixture), format, cache);
        using var expected = SafeTensorsFile.Open(Fixtures.Path_(fixture, "expected", "expected.safetensors"));
        var ids = Parity.Ids(expected.Read("q0.input_ids"));
        Assert.True(ids.Length >= 6, "the case needs a prompt of several pieces");
        foreach (int piece in new[] { ids.Length, 3 })
            AssertSamePrompt(model, ids, piece, $"{fixture} {format.Name()} cache {cache?.ToString() ?? "f32"}", tolerance);
    }

    [Theory]
    [InlineData(70)]
    [InlineData(33)]
    [InlineData(16)]
    public void Wide_heads_give_the_modules_and_the_reference_logits(int piece)
    {
        using var dir = new TempDir();
        Wide.WriteCheckpoint(dir.Path, WideConfig, seed: 41);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = WideIds();
        using (var model = Load(dir.Path, WeightFormat.F32))
        {
            AssertSamePrompt(model, ids, piece, "wide f32");
            var (ours, _, _) = Run(model, ids, piece, [], csharp: true);
            double error = Parity.RelativeError(ours, Wide.Logits(dir.Path, ids).to(ScalarType.Float32));
            output.WriteLine($"wide f32, pieces of {piece}: {error:E2} from the float64 reference");
            Assert.True(error <= 1e-4, $"relative error {error:E2} against the reference");
        }
        using (var model = Load(dir.Path, WeightFormat.Int8))
            AssertSamePrompt(model, ids, piece, "wide int8");
        // 16-bit caches: widened layer by layer for the blockwise kernel.
        foreach (var cache in new[] { ScalarType.Float16, ScalarType.BFloat16 })
            using (var model = Load(dir.Path, WeightFormat.F32, cache))
                AssertSamePrompt(model, ids, piece, $"wide f32 cache {cache}");
    }

    [Theory]
    [InlineData(70)]
    [InlineData(16)]
    public void Grouped_wide_heads_over_every_cache_give_the_modules_and_the_reference_logits(int piece)
    {
        using var dir = new TempDir();
        Grouped.WriteCheckpoint(dir.Path, GroupedConfig, seed: 43);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = WideIds();
        foreach (ScalarType? cache in new ScalarType?[] { null, ScalarType.Float16, ScalarType.BFloat16 })
            using (var model = Load(dir.Path, WeightFormat.F32, cache))
            {
                AssertSamePrompt(model, ids, piece, $"grouped f32 cache {cache?.ToString() ?? "f32"}");
                if (cache is null)
                    Parity.AssertClose(Run(model, ids, piece, [], csharp: true).Prompt, Grouped.Logits(dir.Path, ids).to(ScalarType.Float32), 1e-4, "grouped against the reference");
            }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Qwen3_head_norms_and_biases_give_the_modules_logits(bool bias)
    {
        using var dir = new TempDir();
        var shape = Qwen3Tests.Shape(bias, tied: !bias) with { HeadDim = 64 };
        Qwen3Tests.Write(dir.Path, shape, Qwen3Tests.Config(bias, tied: !bias).Replace("\"head_dim\": 16", "\"head_dim\": 64"), seed: 32);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var model = Load(dir.Path, WeightFormat.F32);
        long[] ids = [1, 282, 376, 401, 356, 288, 349, 306, 394, 269, 286, 391];
        AssertSamePrompt(model, ids, 5, $"qwen3 bias {bias}");
        var (ours, _, _) = Run(model, ids, ids.Length, [], csharp: true);
        Parity.AssertClose(ours, shape.Logits(dir.Path, ids).to(ScalarType.Float32), 1e-4, $"qwen3 bias {bias} against the reference");
    }

    [Fact]
    public void Pieces_past_a_sliding_window_run_the_modules_and_follow_the_reference()
    {
        using var dir = new TempDir();
        var shape = SlidingWindowTests.Shape(qwen2: false) with { Window = _ => SlidingWindowTests.Window };
        shape.WriteCheckpoint(dir.Path, SlidingWindowTests.Config("mistral", $", \"sliding_window\": {SlidingWindowTests.Window}"), seed: 13);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var model = Load(dir.Path, WeightFormat.F32);
        long[] ids = [5, 17, 33, 2, 60, 41, 8, 19, 27];
        // The first piece (3 positions) fits the window of 4 and runs in C#; the next two reach past it.
        var (ours, _, taken) = Run(model, ids, 3, [], csharp: true);
        Assert.Equal(1, taken);
        Parity.AssertClose(ours, shape.Logits(dir.Path, ids).to(ScalarType.Float32), 1e-4, "mistral window 4 against the reference");
    }

    [Fact]
    public void Padding_hidden_states_and_a_full_cache_are_left_to_the_modules()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var model = Load(Fixtures.LlamaTiny, WeightFormat.F32);
        long[] ids = [1, 45, 99, 173, 17];
        Tensor Prompt(IKvCache cache, Tensor? padding = null, List<Tensor>? hidden = null) =>
            model.Forward(model.Embed(tensor(ids).unsqueeze(0)), arange(ids.Length).unsqueeze(0), padding, cache, hiddenStates: hidden);
        long before = LlamaKernelLayers.PiecesTaken;
        using (var rows = model.CreateCache(1, 8))
        using (var view = rows.Prefill(0))
        {
            var padded = Prompt(view, padding: ones([1, ids.Length], ScalarType.Bool));
            Assert.Equal(before, LlamaKernelLayers.PiecesTaken);
            Assert.Equal(ids.Length, padded.shape[1]);
        }
        using (var rows = model.CreateCache(1, 8))
        using (var view = rows.Prefill(0))
        {
            var states = new List<Tensor>();
            Prompt(view, hidden: states);
            Assert.Equal(before, LlamaKernelLayers.PiecesTaken);
            Assert.NotEmpty(states);
        }
        // Too many positions for the cache: the modules refuse with the cache's own error, nothing written past it.
        using (var rows = model.CreateCache(1, ids.Length - 1))
        using (var view = rows.Prefill(0))
        {
            var full = Assert.Throws<InvalidOperationException>(() => Prompt(view));
            Assert.Contains("KV cache is full", full.Message);
            Assert.Equal(before, LlamaKernelLayers.PiecesTaken);
        }
        using (var rows = model.CreateCache(1, 8))
        using (var view = rows.Prefill(0))
        {
            Prompt(view);
            Assert.Equal(before + 1, LlamaKernelLayers.PiecesTaken);
        }
    }
}
