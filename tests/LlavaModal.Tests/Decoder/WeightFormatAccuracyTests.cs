using LlavaModal.Abstractions.Decoding;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Kernels;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Loading;
using LlavaModal.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Decoder;

/// <summary>Each weight format against the f32 reference path on the fixture decoders: logits of whole prompts, and 20 greedy tokens.</summary>
public class WeightFormatAccuracyTests(ITestOutputHelper output)
{
    public static TheoryData<string, WeightFormat, double, int, int> Bounds() => new()
    {
        // fixture, format, most relative logit error, fewest of 20 greedy tokens equal to f32's (free-running), fewest of
        // 20 steps fed f32's tokens whose argmax is f32's. These random 64-wide models are more sensitive than trained
        // ones (bf16 alone moves their logits by 1%) and their f32 logits hold near-ties (top-2 margins down to 0.008), so
        // a free-running path parts at the first near-tie that a format's error flips, and stays parted: the fed steps
        // say how often the format picks f32's token. int4's error is ~8% of each weight, so int4 is held to its logit
        // error here and to the toy model's eval.
        { "llama-tiny", WeightFormat.F32, 1e-5, 20, 20 },
        { "llama-tiny", WeightFormat.BF16, 2e-2, 20, 20 },
        { "llama-tiny", WeightFormat.F16, 3e-3, 20, 20 },
        // int8 rounds the activations to int8 as well (prompt and steps, as llama.cpp's q8_0): llama-tiny's path parts at
        // token 12, where f32's top two logits are 0.018 apart.
        { "llama-tiny", WeightFormat.Int8, 6e-2, 11, 19 },
        { "llama-tiny", WeightFormat.Int4, 0.8, 0, 0 },
        { "qwen2-tiny", WeightFormat.F32, 1e-5, 20, 20 },
        { "qwen2-tiny", WeightFormat.BF16, 2e-2, 20, 20 },
        { "qwen2-tiny", WeightFormat.F16, 3e-3, 20, 20 },
        { "qwen2-tiny", WeightFormat.Int8, 6e-2, 2, 19 },
        { "qwen2-tiny", WeightFormat.Int4, 0.8, 0, 0 },
    };

    static CausalLanguageModel Load(string fixture, WeightFormat? format)
    {
        using var folder = ModelFolder.Open(Fixtures.Path_(fixture));
        return folder.LoadDecoder(new ModelLoadOptions { Weights = format, DType = ScalarType.Float32 });
    }

    internal static long[] Greedy(CausalLanguageModel model, Tensor prompt, int count)
    {
        using var scope = NewDisposeScope();
        long t = prompt.shape[1];
        using var rows = model.CreateCache(1, t + count);
        using var cache = rows.Prefill(0);
        var logits = model.Forward(model.Embed(prompt), arange(t).unsqueeze(0), cache: cache, lastOnly: true);
        var ids = new long[count];
        for (int i = 0; i < count; i++)
        {
            ids[i] = Parity.Ids(logits[0, -1].argmax())[0];
            logits = model.Forward(model.Embed(tensor(new[] { ids[i] }).unsqueeze(0)), tensor(new[] { t + i }).unsqueeze(0), cache: cache);
        }
        return ids;
    }

    /// <summary>The logits of each decode step (one token at a time through the kernels) while feeding <paramref name="ids"/> after the prompt.</summary>
    internal static Tensor StepLogits(CausalLanguageModel model, Tensor prompt, long[] ids)
    {
        using var scope = NewDisposeScope();
        long t = prompt.shape[1];
        using var rows = model.CreateCache(1, t + ids.Length);
        using var cache = rows.Prefill(0);
        model.Forward(model.Embed(prompt), arange(t).unsqueeze(0), cache: cache, lastOnly: true);
        var steps = new List<Tensor>();
        for (int i = 0; i < ids.Length; i++)
            steps.Add(model.Forward(model.Embed(tensor(new[] { ids[i] }).unsqueeze(0)), tensor(new[] { t + i }).unsqueeze(0), cache: cache)[0, -1]);
        return stack(steps).MoveToOuterDisposeScope();
    }

    [Theory]
    [MemberData(nameof(Bounds))]
    public void Logits_and_greedy_tokens_stay_close_to_f32(string fixture, WeightFormat format, double maxError, int minAgreement, int minFedAgreement)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var reference = Load(fixture, null);
        using var packed = Load(fixture, format);
        using var expected = SafeTensorsFile.Open(Fixtures.Path_(fixture, "expected", "expected.safetensors"));
        var prompt = expected.Read("q0.input_ids");
        var positions = arange(prompt.shape[1]).unsqueeze(0);
        double error = Parity.RelativeError(packed.Forward(packed.Embed(prompt), positions), reference.Forward(reference.Embed(prompt), positions));
        var ours = Greedy(packed, prompt, 20);
        var theirs = Greedy(reference, prompt, 20);
        int agreement = ours.Zip(theirs).TakeWhile(p => p.First == p.Second).Count();
        // Decode steps: one row at a time through the kernels.
        var packedSteps = StepLogits(packed, prompt, theirs);
        var referenceSteps = StepLogits(reference, prompt, theirs);
        double stepError = Parity.RelativeError(packedSteps, referenceSteps);
        var top2 = referenceSteps.topk(2, -1).values;
        var margins = (top2[.., 0] - top2[.., 1]).data<float>().ToArray();
        long fed = packedSteps.argmax(-1).eq(referenceSteps.argmax(-1)).sum().item<long>();
        string parted = agreement is > 0 and < 20 ? $", parting where f32's top-2 margin is {margins[agreement - 1]:F3}" : "";
        output.WriteLine($"{fixture} {format.Name()}: logit relative error {error:E2} (prompt), {stepError:E2} (decode steps), greedy prefix agreement {agreement}/20{parted}, fed steps {fed}/20");
        // Int8/int4 products round the activations to int8 too (prompt and decode alike), which adds about half again to
        // their error on these random models (measured: weights alone 3.6-4.4%, with the activations 5.7-5.9%).
        double bound = format.IsQuantized() ? 1.5 * maxError : maxError;
        Assert.True(error <= bound, $"{fixture} {format.Name()}: logit relative error {error:E2} > {bound:E1}");
        Assert.True(stepError <= bound, $"{fixture} {format.Name()}: decode-step logit relative error {stepError:E2} > {bound:E1}");
        Assert.True(agreement >= minAgreement, $"{fixture} {format.Name()}: the first {agreement} of 20 greedy tokens agree with f32 (fewest allowed {minAgreement}).");
        Assert.True(fed >= minFedAgreement, $"{fixture} {format.Name()}: {fed} of 20 steps fed f32's tokens pick f32's token (fewest allowed {minFedAgreement}).");
    }
}
