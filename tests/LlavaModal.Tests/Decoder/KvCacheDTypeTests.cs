using LlavaModal.Abstractions.Decoding;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Decoder.Generation;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Loading;
using LlavaModal.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Decoder;

/// <summary>A 16-bit KV cache under an f32 model against the f32 cache on the fixture decoders: decode-step logits and 20 greedy tokens.</summary>
public class KvCacheDTypeTests(ITestOutputHelper output)
{
    public static TheoryData<string, ScalarType, double> Bounds() => new()
    {
        // fixture, cache dtype, most relative error of the prefill's and decode steps' logits (teacher-forced on the f32
        // cache's greedy tokens); the 20 greedy tokens themselves must all agree. Measured: f16 0.9-1.4e-3, bf16 0.8-1.1e-2,
        // the same bounds as f16 and bf16 weights (these random 64-wide models are more sensitive than trained ones).
        { "llama-tiny", ScalarType.Float16, 3e-3 },
        { "llama-tiny", ScalarType.BFloat16, 2e-2 },
        { "qwen2-tiny", ScalarType.Float16, 3e-3 },
        { "qwen2-tiny", ScalarType.BFloat16, 2e-2 },
    };

    static CausalLanguageModel Load(string fixture, ScalarType? cache)
    {
        using var folder = ModelFolder.Open(Fixtures.Path_(fixture));
        return folder.LoadDecoder(new ModelLoadOptions { DType = ScalarType.Float32, KvCache = cache });
    }

    [Theory]
    [MemberData(nameof(Bounds))]
    public void Logits_and_greedy_tokens_stay_close_to_the_f32_cache(string fixture, ScalarType cache, double maxError)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var reference = Load(fixture, null);
        using var sixteen = Load(fixture, cache);
        Assert.Equal(ScalarType.Float32, reference.CacheDType);
        Assert.Equal(cache, sixteen.CacheDType);
        Assert.Equal(ScalarType.Float32, sixteen.DType);
        using var expected = SafeTensorsFile.Open(Fixtures.Path_(fixture, "expected", "expected.safetensors"));
        var prompt = expected.Read("q0.input_ids");
        var theirs = WeightFormatAccuracyTests.Greedy(reference, prompt, 20);
        var ours = WeightFormatAccuracyTests.Greedy(sixteen, prompt, 20);
        double error = Parity.RelativeError(WeightFormatAccuracyTests.StepLogits(sixteen, prompt, theirs), WeightFormatAccuracyTests.StepLogits(reference, prompt, theirs));
        output.WriteLine($"{fixture} {cache} cache: decode-step logit relative error {error:E2}, greedy {ours.Zip(theirs).TakeWhile(p => p.First == p.Second).Count()}/20 equal");
        Assert.True(error > 0, "a 16-bit cache rounds keys and values, so the logits must move");
        Assert.True(error <= maxError, $"{fixture} {cache} cache: logit relative error {error:E2} > {maxError:E1}");
        Assert.Equal(theirs, ours);
    }

    [Fact]
    public void A_padded_batch_and_a_reused_prompt_attend_over_a_16_bit_cache_through_libtorch()
    {
        // Padded rows need a mask and a prompt continued after a cached prefix attends T > 1 positions: libtorch's kernels
        // read the 16-bit cache widened to f32 there. The batch and the repeated prompt give what each prompt gives alone.
        using var model = LanguageModel.Load(Fixtures.LlamaTiny, new ModelLoadOptions { DType = ScalarType.Float32, KvCache = ScalarType.BFloat16 });
        var options = new GenerationOptions { MaxNewTokens = 8 };
        string[] prompts = ["12345 + 67890 = ?", "Hello"];
        var alone = prompts.Select(p => model.Generate(p, options).GeneratedIds).ToList();
        var batch = model.GenerateBatch(prompts, options).Select(r => r.GeneratedIds).ToList();
        Assert.Equal(alone, batch);
        Assert.Equal(alone[0], model.Generate(prompts[0], options).GeneratedIds);
        Assert.Equal(ScalarType.BFloat16, model.Decoder.CacheDType);
    }

    [Fact]
    public void A_cache_dtype_that_is_not_floating_point_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => LanguageModel.Load(Fixtures.LlamaTiny, new ModelLoadOptions { KvCache = ScalarType.Int8 }).Dispose());
        Assert.Contains("KV cache dtype Int8", e.Message);
    }
}
