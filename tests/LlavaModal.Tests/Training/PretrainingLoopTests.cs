using LlavaModal.Training;
using LlavaModal.Training.Optimization;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Training;

public class PretrainingLoopTests
{
    [Fact]
    public void Fits_a_linear_map_and_reports_each_step()
    {
        manual_seed(3);
        using var layer = nn.Linear(4, 2);
        using var target = randn(4, 2);
        var seen = new List<TrainProgress>();
        var result = PretrainingLoop.Run(layer.named_parameters().Select(p => (p.name, p.parameter)), steps: 300, batchSize: 16, learningRate: 3e-2, _ =>
        {
            var x = randn(16, 4);
            return nn.functional.mse_loss(layer.forward(x), x.matmul(target));
        }, seen.Add);

        Assert.Equal(300, seen.Count);
        Assert.Equal(Enumerable.Range(1, 300).Select(i => (long)i), seen.Select(p => p.Step));
        Assert.Equal(seen[0].Loss, result.FirstLoss);
        Assert.Equal(seen.TakeLast(20).Average(p => p.Loss), result.FinalLoss, 12);
        Assert.True(result.FinalLoss < result.FirstLoss / 100, $"loss {result.FirstLoss} -> {result.FinalLoss}");
        // Warm-up over the first twentieth, then decay.
        Assert.True(seen[0].LearningRate < seen[14].LearningRate && seen[299].LearningRate < seen[15].LearningRate);
    }

    [Fact]
    public void Refuses_settings_that_cannot_train()
    {
        using var layer = nn.Linear(2, 2);
        var parameters = layer.named_parameters().Select(p => (p.name, p.parameter)).ToList();
        Assert.Throws<ArgumentException>(() => PretrainingLoop.Run(parameters, 0, 1, 1e-3, _ => zeros(1)));
        Assert.Throws<ArgumentException>(() => PretrainingLoop.Run(parameters, 1, 1, 0, _ => zeros(1)));
    }
}
