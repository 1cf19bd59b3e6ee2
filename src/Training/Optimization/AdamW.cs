using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Core.Checkpoints;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Training.Optimization;

/// <summary>
/// AdamW (Loshchilov and Hutter: Adam with decoupled weight decay, bias-corrected moments), as <c>torch.optim.AdamW</c>
/// computes it, over named parameters so its state saves to and restores from safetensors by name. Weight decay
/// skips biases, norms and embeddings-free 1-D parameters, as LLaVA's trainer does. Only the parameters given get
/// state: frozen parameters have no optimizer state at all.
/// </summary>
public sealed class AdamW : IDisposable
{
    readonly List<(string Name, Parameter Parameter, bool Decay)> parameters;
    readonly Dictionary<string, (Tensor ExpAvg, Tensor ExpAvgSq)> state = new(StringComparer.Ordinal);

    /// <summary>Creates the optimizer.</summary>
    public AdamW(IEnumerable<(string Name, Parameter Parameter)> parameters, double weightDecay = 0.0, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
    {
        this.parameters = parameters.Select(p => (p.Name, p.Parameter, p.Parameter.dim() >= 2)).ToList();
        WeightDecay = weightDecay;
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
    }

    /// <summary>Decoupled weight decay.</summary>
    public double WeightDecay { get; }
    /// <summary>First-moment decay.</summary>
    public double Beta1 { get; }
    /// <summary>Second-moment decay.</summary>
    public double Beta2 { get; }
    /// <summary>Denominator epsilon.</summary>
    public double Eps { get; }
    /// <summary>Updates taken.</summary>
    public long Step { get; private set; }

    /// <summary>The parameters this optimizer updates.</summary>
    public IReadOnlyList<Parameter> Parameters => parameters.Select(p => p.Parameter).ToList();

    /// <summary>Number of tensors of optimizer state (two per updated parameter once stepped).</summary>
    public int StateTensorCount => state.Count * 2;

    /// <summary>Sets every gradient to none.</summary>
    public void ZeroGrad()
    {
        foreach (var (_, p, _) in parameters)
        {
            if (p.grad is { } g) { g.Dispose(); p.grad = null; }
        }
    }

    /// <summary>Scales gradients so their global L2 norm is at most <paramref name="maxNorm"/>; returns the norm before clipping.</summary>
    public double ClipGradNorm(double maxNorm)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var grads = parameters.Select(p => p.Parameter.grad).Where(g => g is not null).Select(g => g!).ToList();
        if (grads.Count == 0) return 0;
        double norm = stack(grads.Select(g => g.detach().PowScalar(2).sum()).ToList()).sum().sqrt().item<float>();
        if (maxNorm > 0 && norm > maxNorm)
        {
            double scale = maxNorm / (norm + 1e-6);
            foreach (var g in grads) Scalars.With(scale, s => g.mul_(s));
        }
        return norm;
    }

    /// <summary>One update with learning rate <paramref name="lr"/>.</summary>
    public void StepUpdate(double lr)
    {
        using var _ = no_grad();
        Step++;
        double bc1 = 1 - Math.Pow(Beta1, Step), bc2 = 1 - Math.Pow(Beta2, Step);
        foreach (var (name, p, decay) in parameters)
        {
            if (p.grad is not { } g) continue;
            using var scope = NewDisposeScope();
            if (!state.TryGetValue(name, out var s))
            {
                s = (zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope());
                state[name] = s;
            }
            if (decay && WeightDecay > 0) Scalars.With(1 - lr * WeightDecay, decayed => p.mul_(decayed));
            Scalars.With(Beta1, 1 - Beta1, (beta, alpha) => s.ExpAvg.mul_(beta).add_(g, alpha: alpha));
            Scalars.With(Beta2, 1 - Beta2, (beta, value) => s.ExpAvgSq.mul_(beta).addcmul_(g, g, value: value));
            var denom = s.ExpAvgSq.sqrt().DivScalar(Math.Sqrt(bc2)).AddScalar(Eps);
            Scalars.With(-lr / bc1, step => p.addcdiv_(s.ExpAvg, denom, value: step));
        }
    }

    /// <summary>Writes the moments to a safetensors file (<c>exp_avg.NAME</c>, <c>exp_avg_sq.NAME</c>; the step in its metadata).</summary>
    public void Save(string path)
    {
        var tensors = state.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .SelectMany(kv => new[] { new KeyValuePair<string, Tensor>("exp_avg." + kv.Key, kv.Value.ExpAvg), new KeyValuePair<string, Tensor>("exp_avg_sq." + kv.Key, kv.Value.ExpAvgSq) });
        SafeTensorsWriter.Write(path, tensors, new Dictionary<string, string> { ["format"] = "pt", ["step"] = Step.ToString(System.Globalization.CultureInfo.InvariantCulture) });
    }

    /// <summary>Restores moments and step written by <see cref="Save"/>; every tensor must belong to a parameter of this optimizer with its shape.</summary>
    public void Load(string path)
    {
        using var file = SafeTensorsFile.Open(path);
        var byName = parameters.ToDictionary(p => p.Name, p => p.Parameter, StringComparer.Ordinal);
        foreach (var key in file.Tensors.Keys.Where(k => k.StartsWith("exp_avg.", StringComparison.Ordinal)))
        {
            var name = key["exp_avg.".Length..];
            if (!byName.TryGetValue(name, out var p))
                throw new CheckpointException(path, $"optimizer state for '{name}', which this run does not train (was the stage changed?).");
            var m = file.Read(key, ScalarType.Float32);
            var v = file.Read("exp_avg_sq." + name, ScalarType.Float32);
            if (!m.shape.SequenceEqual(p.shape)) throw new CheckpointException(path, $"optimizer state for '{name}' has the wrong shape.");
            if (state.Remove(name, out var old)) { old.ExpAvg.Dispose(); old.ExpAvgSq.Dispose(); }
            state[name] = (m, v);
        }
        Step = long.Parse(file.Metadata.GetValueOrDefault("step", "0"), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var (m, v) in state.Values) { m.Dispose(); v.Dispose(); }
        state.Clear();
    }
}

/// <summary>Linear warm-up from 0 to the peak rate, then cosine decay to <c>peak × minRatio</c> at the last step (LLaVA's <c>cosine</c> schedule with <c>warmup_ratio</c>).</summary>
/// <param name="PeakLearningRate">Rate after warm-up.</param>
/// <param name="TotalSteps">Optimizer steps of the run.</param>
/// <param name="WarmupSteps">Steps of linear warm-up.</param>
/// <param name="MinRatio">Final rate as a fraction of the peak.</param>
public sealed record LearningRateSchedule(double PeakLearningRate, long TotalSteps, long WarmupSteps, double MinRatio = 0.0)
{
    /// <summary>The rate of optimizer step <paramref name="step"/> (0-based).</summary>
    public double At(long step)
    {
        if (WarmupSteps > 0 && step < WarmupSteps) return PeakLearningRate * (step + 1) / WarmupSteps;
        double progress = TotalSteps <= WarmupSteps ? 1 : Math.Clamp((double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps - 1), 0, 1);
        double cosine = 0.5 * (1 + Math.Cos(Math.PI * progress));
        return PeakLearningRate * (MinRatio + (1 - MinRatio) * cosine);
    }
}
