using LlavaModal.Core.Kernels;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Loading;
using LlavaModal.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Decoder;

/// <summary>
/// A prompt's forward and the decode steps after it free every tensor they make: one left to the garbage collector
/// keeps its memory until a collection runs, and a prompt's are [T, hidden] each.
/// </summary>
public class TensorLifetimeTests
{
    public static TheoryData<string, WeightFormat?> Models() => new()
    {
        { "llama-tiny", null },
        { "llama-tiny", WeightFormat.F32 },
        { "qwen2-tiny", WeightFormat.Int8 },
        { "qwen2-tiny", WeightFormat.BF16 },
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void A_prompt_and_its_decode_steps_leave_no_tensor_alive(string fixture, WeightFormat? format)
    {
        using var _ = no_grad();
        using var folder = ModelFolder.Open(Fixtures.Path_(fixture));
        using var model = folder.LoadDecoder(new ModelLoadOptions { Weights = format, DType = ScalarType.Float32 });
        var statistics = DisposeScopeManager.Statistics.TensorStatistics;
        // The first run may build what a model keeps for later runs (the rotary table); the second must add nothing.
        Run(model, promptLength: 40, steps: 4);
        long before = statistics.ThreadTotalLiveCount;
        Run(model, promptLength: 40, steps: 4);
        Assert.Equal(before, statistics.ThreadTotalLiveCount);
    }

    static void Run(LlavaModal.Abstractions.Decoding.CausalLanguageModel model, int promptLength, int steps)
    {
        using var rows = model.CreateCache(1, promptLength + steps);
        using var cache = rows.Prefill(0);
        // Built in one call each: a temporary (arange then unsqueeze) would itself be a tensor left alive.
        using (var ids = tensor(Enumerable.Range(0, promptLength).Select(i => (long)(i % model.Config.VocabSize)).ToArray(), [1, promptLength]))
        using (var positions = tensor(Enumerable.Range(0, promptLength).Select(i => (long)i).ToArray(), [1, promptLength]))
        using (var embeds = model.Embed(ids))
        using (model.Forward(embeds, positions, cache: cache, lastOnly: true)) { }
        for (int i = 0; i < steps; i++)
        {
            using var id = tensor(new long[] { 7 + i }, [1, 1]);
            using var position = tensor(new long[] { promptLength + i }, [1, 1]);
            using var embed = model.Embed(id);
            using (model.Forward(embed, position, cache: cache)) { }
        }
    }
}
