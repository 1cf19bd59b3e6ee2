using System.Diagnostics;
using System.Text.Json;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Tokenizers.Chat;
using LlavaModal.Training.Data;
using LlavaModal.Training.Modeling;
using LlavaModal.Training.Optimization;
using static TorchSharp.torch;

namespace LlavaModal.Training;

/// <summary>Hyper-parameters of a training run. Defaults follow LLaVA's recipe shape (AdamW, 3% warm-up, cosine decay, clipping at 1).</summary>
public sealed record TrainOptions
{
    /// <summary>Which parts are trained.</summary>
    public TrainingStage Stage { get; init; } = TrainingStage.Stage1;
    /// <summary>Samples per micro-batch.</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>Micro-batches per optimizer step.</summary>
    public int GradientAccumulation { get; init; } = 1;
    /// <summary>Passes over the training split (used when <see cref="MaxSteps"/> is not set).</summary>
    public double Epochs { get; init; } = 1;
    /// <summary>Optimizer steps; overrides <see cref="Epochs"/>.</summary>
    public long? MaxSteps { get; init; }
    /// <summary>Peak learning rate (LLaVA: 1e-3 for stage 1, 2e-5 for stage 2 at 7B; small models take more).</summary>
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>Fraction of the steps spent warming up linearly.</summary>
    public double WarmupRatio { get; init; } = 0.03;
    /// <summary>Final learning rate as a fraction of the peak.</summary>
    public double MinLearningRateRatio { get; init; }
    /// <summary>AdamW decoupled weight decay (matrices only).</summary>
    public double WeightDecay { get; init; }
    /// <summary>Global gradient-norm clip (0 = off).</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>Seed of the data order, the held-out split and torch's generator.</summary>
    public long Seed { get; init; }
    /// <summary>Fraction of the samples held out for the evaluation loss (0 = none).</summary>
    public double EvalFraction { get; init; } = 0.05;
    /// <summary>At most this many held-out samples (keeps evaluation quick).</summary>
    public int MaxEvalSamples { get; init; } = 256;
    /// <summary>Evaluate every this many steps (0 = only at the end).</summary>
    public int EvalEvery { get; init; }
    /// <summary>Save a resumable checkpoint every this many steps (0 = only at the end).</summary>
    public int SaveEvery { get; init; }
    /// <summary>Longest tokenised sample (image placeholder counted once).</summary>
    public int MaxLength { get; init; } = 1024;
    /// <summary>
    /// Modalities whose projectors the stage trains (<c>image</c>, <c>audio</c>, a plugin's name); the others stay frozen.
    /// Null: every modality the training data holds (all of them when it holds none).
    /// </summary>
    public IReadOnlyList<string>? Modalities { get; init; }
    /// <summary>Stored dtype of the saved weights.</summary>
    public ScalarType SaveDType { get; init; } = ScalarType.Float32;

    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentException">A value out of range, naming it.</exception>
    public void Validate()
    {
        if (BatchSize < 1) throw new ArgumentException($"batch size must be at least 1, got {BatchSize}.");
        if (GradientAccumulation < 1) throw new ArgumentException($"gradient accumulation must be at least 1, got {GradientAccumulation}.");
        if (MaxSteps is < 1) throw new ArgumentException($"max steps must be at least 1, got {MaxSteps}.");
        if (!(Epochs > 0)) throw new ArgumentException($"epochs must be positive, got {Epochs}.");
        if (!(LearningRate > 0)) throw new ArgumentException($"learning rate must be positive, got {LearningRate}.");
        if (WarmupRatio is < 0 or >= 1) throw new ArgumentException($"warm-up ratio must be in [0, 1), got {WarmupRatio}.");
        if (EvalFraction is < 0 or >= 1) throw new ArgumentException($"eval fraction must be in [0, 1), got {EvalFraction}.");
        if (!(MaxGradNorm >= 0) || double.IsInfinity(MaxGradNorm)) throw new ArgumentException($"max grad norm must be 0 (off) or a positive finite number, got {MaxGradNorm}.");
        if (!double.IsFinite(LearningRate)) throw new ArgumentException($"learning rate must be finite, got {LearningRate}.");
        if (!double.IsFinite(Epochs)) throw new ArgumentException($"epochs must be finite, got {Epochs}.");
        if (!(MinLearningRateRatio >= 0 && MinLearningRateRatio <= 1)) throw new ArgumentException($"min learning-rate ratio must be in [0, 1], got {MinLearningRateRatio}.");
        if (!(WeightDecay >= 0) || double.IsInfinity(WeightDecay)) throw new ArgumentException($"weight decay must be 0 or a positive finite number, got {WeightDecay}.");
        if (MaxLength < 1) throw new ArgumentException($"max length must be at least 1, got {MaxLength}.");
        if (EvalEvery < 0 || SaveEvery < 0) throw new ArgumentException($"eval-every and save-every must not be negative, got {EvalEvery} and {SaveEvery}.");
    }
}

/// <summary>One progress report.</summary>
/// <param name="Step">Optimizer steps done.</param>
/// <param name="TotalSteps">Steps of the run.</param>
/// <param name="Loss">Mean token loss of this step.</param>
/// <param name="LearningRate">Rate used for this step.</param>
/// <param name="SamplesPerSecond">Throughput since the run (or resume) started.</param>
/// <param name="EvalLoss">Held-out loss when evaluated at this step.</param>
public sealed record TrainProgress(long Step, long TotalSteps, double Loss, double LearningRate, double SamplesPerSecond, double? EvalLoss);

/// <summary>What a run did.</summary>
/// <param name="Steps">Optimizer steps in total (including any before a resume).</param>
/// <param name="FirstLoss">Loss of the first step of this invocation.</param>
/// <param name="FinalLoss">Mean loss over the last tenth of the steps (1 to 20 steps).</param>
/// <param name="EvalLoss">Held-out loss at the end (null without a held-out split).</param>
/// <param name="InitialEvalLoss">Held-out loss before the first step (null when resumed or without a split).</param>
/// <param name="Seconds">Wall time of this invocation.</param>
/// <param name="TrainSamples">Samples in the training split.</param>
/// <param name="EvalSamples">Samples held out.</param>
public sealed record TrainResult(long Steps, double FirstLoss, double FinalLoss, double? EvalLoss, double? InitialEvalLoss, double Seconds, int TrainSamples, int EvalSamples);

/// <summary>
/// Trains a <see cref="LlavaTrainingModel"/> on LLaVA-format data for one stage: AdamW over the stage's trainable
/// parameters only, warm-up then cosine decay, gradient accumulation and clipping, padded batches with attention masks,
/// a seeded data order, a held-out evaluation loss, and resumable checkpoints (the llava-hf folder plus
/// <c>optimizer.safetensors</c> and <c>trainer_state.json</c>). Runs in float32: TorchSharp has no autocast, and bf16
/// matmuls on CPU are slower than fp32 ones and lose precision in the optimizer.
/// </summary>
public sealed class Trainer
{
    /// <summary>File holding the step, the options and the losses of a checkpoint.</summary>
    public const string StateFileName = "trainer_state.json";

    /// <summary>File holding the optimizer moments.</summary>
    public const string OptimizerFileName = "optimizer.safetensors";

    /// <summary>Splits samples into train and held-out parts with the seed (the same split on resume).</summary>
    public static (List<T> Train, List<T> Eval) Split<T>(IReadOnlyList<T> samples, double evalFraction, int maxEval, long seed)
    {
        var order = Enumerable.Range(0, samples.Count).ToArray();
        new Random(unchecked((int)seed) ^ 0x5eed).Shuffle(order);
        int evalCount = evalFraction <= 0 ? 0 : Math.Clamp((int)Math.Round(samples.Count * evalFraction), 1, Math.Min(maxEval, Math.Max(0, samples.Count - 1)));
        var evalSet = order.Take(evalCount).Order().Select(i => samples[i]).ToList();
        var train = order.Skip(evalCount).Order().Select(i => samples[i]).ToList();
        return (train, evalSet);
    }

    /// <summary>Runs a stage. With <paramref name="resume"/>, continues from the optimizer and step saved in <paramref name="outputDirectory"/> (the model must have been loaded from there).</summary>
    public static TrainResult Run(LlavaTrainingModel model, IReadOnlyList<LlavaSample> data, string? imageFolder, string outputDirectory, TrainOptions options,
        Action<TrainProgress>? progress = null, bool resume = false, CancellationToken cancellation = default)
    {
        options.Validate();
        if (data.Count < 2) throw new ArgumentException($"need at least 2 samples, got {data.Count}.");
        manual_seed(options.Seed);
        var encoder = new ConversationEncoder(model.Tokenizer, maxLength: options.MaxLength, template: ChatTemplate.ForModel(model.SupportDirectory), modalities: model.Placeholders);
        var encoded = data.Select(s => encoder.Encode(s, imageFolder)).ToList();
        foreach (var e in encoded)
        {
            if (e.ImagePath is not null && !File.Exists(e.ImagePath)) throw new FileNotFoundException($"sample '{e.Id}': image {e.ImagePath} not found.", e.ImagePath);
            foreach (var m in e.Media)
                if (!File.Exists(m.Path)) throw new FileNotFoundException($"sample '{e.Id}': {m.Modality} file {m.Path} not found.", m.Path);
        }
        var (train, held) = Split(encoded, options.EvalFraction, options.MaxEvalSamples, options.Seed);
        // A batch repeats samples to fill itself; one larger than the data only costs memory (a million on 20 samples took > 6 GB).
        if (options.BatchSize > train.Count)
            throw new ArgumentException($"batch size {options.BatchSize} is larger than the {train.Count} training samples; use a batch size of at most {train.Count}.");
        if (train.Sum(s => (long)s.SupervisedTokens) == 0) throw new InvalidDataException("no sample has an assistant reply to learn: every label is masked.");

        var inData = encoded.Any(e => e.ImagePath is not null) ? new List<string> { "image" } : [];
        inData.AddRange(encoded.SelectMany(e => e.Media.Select(m => m.Modality)).Distinct().Order(StringComparer.Ordinal));
        var trained = options.Modalities ?? (inData.Count > 0 ? inData : model.ModalityNames);
        model.SetStage(options.Stage, trained.ToList());
        if (model.TrainableParameters().Count == 0) throw new ArgumentException($"stage {(int)options.Stage} has nothing to train: no projector of {string.Join(", ", trained)} and a frozen language model.");
        int perStep = options.BatchSize * options.GradientAccumulation;
        long total = options.MaxSteps ?? Math.Max(1, (long)Math.Ceiling(options.Epochs * train.Count / perStep));
        var schedule = new LearningRateSchedule(options.LearningRate, total, (long)Math.Round(total * options.WarmupRatio), options.MinLearningRateRatio);
        using var optimizer = new AdamW(model.TrainableParameters(), options.WeightDecay);
        long start = 0;
        var history = new List<object>();
        if (resume)
        {
            var statePath = Path.Combine(outputDirectory, StateFileName);
            if (!File.Exists(statePath)) throw new FileNotFoundException($"{statePath}: nothing to resume (no trainer state).", statePath);
            using var doc = JsonDocument.Parse(File.ReadAllText(statePath));
            start = doc.RootElement.GetProperty("step").GetInt64();
            if (doc.RootElement.GetProperty("stage").GetInt32() != (int)options.Stage)
                throw new ArgumentException($"the checkpoint in {outputDirectory} is from stage {doc.RootElement.GetProperty("stage").GetInt32()}, not stage {(int)options.Stage}.");
            optimizer.Load(Path.Combine(outputDirectory, OptimizerFileName));
        }

        double? initialEval = !resume && held.Count > 0 ? EvaluateLoss(model, held, options.BatchSize) : null;
        var clock = Stopwatch.StartNew();
        double firstLoss = double.NaN;
        var recent = new Queue<double>();
        double? lastEval = initialEval;
        long samplesSeen = 0;
        for (long step = start; step < total; step++)
        {
            cancellation.ThrowIfCancellationRequested();
            double lr = schedule.At(step);
            var micro = Enumerable.Range(0, options.GradientAccumulation).Select(m => Batch(train, options.BatchSize, step * options.GradientAccumulation + m, options.Seed)).ToList();
            long tokens = micro.Sum(b => b.Sum(s => (long)s.SupervisedTokens));
            double lossSum = 0;
            model.SetTraining(true);
            foreach (var batch in micro)
            {
                using var scope = NewDisposeScope();
                var pixels = model.LoadPixels(batch);
                var (loss, _) = model.Loss(batch, pixels);
                // Normalise by the step's supervised tokens so accumulation equals one large batch.
                loss.DivScalar(Math.Max(1, tokens)).backward();
                lossSum += loss.item<float>();
                samplesSeen += batch.Count;
            }
            model.SetTraining(false);
            optimizer.ClipGradNorm(options.MaxGradNorm);
            optimizer.StepUpdate(lr);
            optimizer.ZeroGrad();
            double stepLoss = lossSum / Math.Max(1, tokens);
            if (double.IsNaN(firstLoss)) firstLoss = stepLoss;
            recent.Enqueue(stepLoss);
            if (recent.Count > Math.Clamp(total / 10, 1, 20)) recent.Dequeue();
            if (!double.IsFinite(stepLoss)) throw new LlavaModalException($"the loss became {stepLoss} at step {step + 1}; lower the learning rate.");

            bool last = step + 1 == total;
            double? evalLoss = null;
            if (held.Count > 0 && (last || (options.EvalEvery > 0 && (step + 1) % options.EvalEvery == 0)))
                lastEval = evalLoss = EvaluateLoss(model, held, options.BatchSize);
            history.Add(new { step = step + 1, loss = Math.Round(stepLoss, 5), learning_rate = lr, eval_loss = evalLoss });
            if (last || (options.SaveEvery > 0 && (step + 1) % options.SaveEvery == 0))
                SaveCheckpoint(model, optimizer, outputDirectory, options, step + 1, total, history, lastEval);
            progress?.Invoke(new TrainProgress(step + 1, total, stepLoss, lr, samplesSeen / Math.Max(1e-9, clock.Elapsed.TotalSeconds), evalLoss));
        }
        if (start >= total) SaveCheckpoint(model, optimizer, outputDirectory, options, start, total, history, lastEval);
        return new TrainResult(total, firstLoss, recent.Count > 0 ? recent.Average() : double.NaN, lastEval, initialEval, clock.Elapsed.TotalSeconds, train.Count, held.Count);
    }

    /// <summary>Micro-batch <paramref name="index"/> of a seeded, epoch-wise shuffled stream over <paramref name="samples"/>: deterministic, so a resumed run sees the same data.</summary>
    internal static List<T> Batch<T>(IReadOnlyList<T> samples, int batchSize, long index, long seed)
    {
        var batch = new List<T>(batchSize);
        long first = index * batchSize;
        int[]? order = null;
        long orderEpoch = -1;
        for (long k = first; k < first + batchSize; k++)
        {
            long epoch = k / samples.Count;
            if (epoch != orderEpoch)
            {
                order = Enumerable.Range(0, samples.Count).ToArray();
                // Not HashCode.Combine: it is randomised per process, so the order would differ between runs.
                new Random(unchecked((int)(seed * 1_000_003 + epoch * 7_919 + 17))).Shuffle(order);
                orderEpoch = epoch;
            }
            batch.Add(samples[order![(int)(k % samples.Count)]]);
        }
        return batch;
    }

    /// <summary>Mean token loss over <paramref name="samples"/> without gradients.</summary>
    public static double EvaluateLoss(LlavaTrainingModel model, IReadOnlyList<EncodedSample> samples, int batchSize)
    {
        using var _ = no_grad();
        double sum = 0;
        long tokens = 0;
        for (int i = 0; i < samples.Count; i += batchSize)
        {
            using var scope = NewDisposeScope();
            var batch = samples.Skip(i).Take(batchSize).ToList();
            var (loss, n) = model.Loss(batch, model.LoadPixels(batch));
            sum += loss.item<float>();
            tokens += n;
        }
        return tokens == 0 ? double.NaN : sum / tokens;
    }

    static void SaveCheckpoint(LlavaTrainingModel model, AdamW optimizer, string directory, TrainOptions options, long step, long total, List<object> history, double? evalLoss)
    {
        model.Save(directory, options.SaveDType);
        optimizer.Save(Path.Combine(directory, OptimizerFileName));
        var state = new
        {
            stage = (int)options.Stage,
            modalities = model.ModalityNames.Where(m => model.TrainableParameters().Any(p => p.Name.StartsWith(m == "image" ? "multi_modal_projector." : m + "_projector.", StringComparison.Ordinal))).ToList(),
            step,
            total_steps = total,
            seed = options.Seed,
            batch_size = options.BatchSize,
            gradient_accumulation = options.GradientAccumulation,
            learning_rate = options.LearningRate,
            warmup_ratio = options.WarmupRatio,
            weight_decay = options.WeightDecay,
            max_grad_norm = options.MaxGradNorm,
            eval_loss = evalLoss,
            log_history = history,
        };
        HfFolders.WriteJson(Path.Combine(directory, StateFileName), state);
    }
}
