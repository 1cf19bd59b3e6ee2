using System.Diagnostics;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Training.Optimization;

/// <summary>What a <see cref="PretrainingLoop"/> run reported.</summary>
/// <param name="FirstLoss">The loss of the first step.</param>
/// <param name="FinalLoss">The mean loss of the last 20 steps (one step's loss is noisy).</param>
/// <param name="Seconds">Wall time of the loop.</param>
public sealed record PretrainingLoopResult(double FirstLoss, double FinalLoss, double Seconds);

/// <summary>
/// The loop an encoder's (or a small language model's) own pretraining needs before LLaVA's stages: AdamW with weight
/// decay 0.01, a linear warm-up over the first twentieth of the steps then cosine decay (<see cref="LearningRateSchedule"/>),
/// gradients clipped to norm 1, one dispose scope per step, progress as <see cref="Trainer"/> reports it. The caller
/// supplies each step's loss, built from whatever data and heads its objective needs.
/// </summary>
public static class PretrainingLoop
{
    /// <summary>Runs <paramref name="steps"/> optimizer steps over <paramref name="parameters"/>; <paramref name="loss"/> builds step <c>i</c>'s scalar loss.</summary>
    /// <exception cref="ArgumentException">Steps or batch size under 1, or a learning rate that is not positive.</exception>
    public static PretrainingLoopResult Run(IEnumerable<(string Name, Parameter Parameter)> parameters, int steps, int batchSize, double learningRate,
        Func<int, Tensor> loss, Action<TrainProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(loss);
        if (steps < 1) throw new ArgumentException($"steps must be at least 1, got {steps}.", nameof(steps));
        if (batchSize < 1) throw new ArgumentException($"the batch size must be at least 1, got {batchSize}.", nameof(batchSize));
        if (!(learningRate > 0)) throw new ArgumentException($"the learning rate must be positive, got {learningRate}.", nameof(learningRate));
        var clock = Stopwatch.StartNew();
        using var optimizer = new AdamW(parameters, weightDecay: 0.01);
        var schedule = new LearningRateSchedule(learningRate, steps, Math.Max(1, steps / 20));
        double first = double.NaN;
        var recent = new Queue<double>();
        for (int step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            var value = loss(step);
            value.backward();
            optimizer.ClipGradNorm(1.0);
            double lr = schedule.At(step);
            optimizer.StepUpdate(lr);
            optimizer.ZeroGrad();
            double read = value.item<float>();
            if (double.IsNaN(first)) first = read;
            recent.Enqueue(read);
            if (recent.Count > 20) recent.Dequeue();
            progress?.Invoke(new TrainProgress(step + 1, steps, read, lr, (step + 1) * (double)batchSize / clock.Elapsed.TotalSeconds, null));
        }
        return new PretrainingLoopResult(first, recent.Average(), clock.Elapsed.TotalSeconds);
    }
}
