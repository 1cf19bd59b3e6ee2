using LlavaModal.Abstractions.Modality;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Samples.MoleculeGraph.Gin;
using LlavaModal.Samples.MoleculeGraph.Plugin;
using LlavaModal.Training;
using LlavaModal.Training.Modeling;

namespace LlavaModal.Samples.MoleculeGraph.Curriculum;

/// <summary>Sizes and step counts of the graph recipe.</summary>
public sealed record GraphRecipeOptions
{
    /// <summary>Seed of everything: molecules, initial weights, data order.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Molecules in the stage-1 / stage-2 data.</summary>
    public int Molecules { get; init; } = 6000;
    /// <summary>Question types asked per stage-2 conversation.</summary>
    public int QuestionsPerMolecule { get; init; } = 4;
    /// <summary>The GIN's shape.</summary>
    public GinConfig Encoder { get; init; } = new(HiddenSize: 64, Layers: 3);
    /// <summary>GIN pretraining.</summary>
    public GraphPretrainOptions Pretrain { get; init; } = new() { Steps = 3000, BatchSize = 64, LearningRate = 3e-3 };
    /// <summary>Stage 1 (graph projector only).</summary>
    public TrainOptions Stage1 { get; init; } = new() { Stage = TrainingStage.Stage1, Modalities = [MoleculeGraphEncoder.Name], MaxSteps = 100, BatchSize = 16, LearningRate = 2e-3, WarmupRatio = 0.05 };
    /// <summary>Stage 2 (graph projector and language model; the image projector stays as it is).</summary>
    public TrainOptions Stage2 { get; init; } = new() { Stage = TrainingStage.Stage2, Modalities = [MoleculeGraphEncoder.Name], MaxSteps = 800, BatchSize = 16, LearningRate = 1e-3, WarmupRatio = 0.03, MinLearningRateRatio = 0.05 };
    /// <summary>Molecules of the final evaluation.</summary>
    public int EvalScenes { get; init; } = 200;

    /// <summary>
    /// A shortened curriculum for CI (1-3 minutes on a 2-core machine, with load): the full recipe's encoder pretrained
    /// for a quarter of the steps, and one question per conversation, so that each stage-2 answer follows its graph
    /// directly; with several questions per conversation the same number of steps stayed at chance.
    /// </summary>
    public static GraphRecipeOptions Quick { get; } = new()
    {
        Molecules = 6000,
        QuestionsPerMolecule = 1,
        Encoder = new(HiddenSize: 64, Layers: 3),
        Pretrain = new() { Steps = 800, BatchSize = 32, LearningRate = 3e-3, EvalMolecules = 128 },
        Stage1 = new() { Stage = TrainingStage.Stage1, Modalities = [MoleculeGraphEncoder.Name], MaxSteps = 40, BatchSize = 8, LearningRate = 5e-3, WarmupRatio = 0.05, EvalFraction = 0.05, MaxEvalSamples = 16 },
        Stage2 = new() { Stage = TrainingStage.Stage2, Modalities = [MoleculeGraphEncoder.Name], MaxSteps = 1000, BatchSize = 16, LearningRate = 3e-3, WarmupRatio = 0.05, EvalFraction = 0.05, MaxEvalSamples = 16 },
        EvalScenes = 40,
    };
}

/// <summary>What each phase of the graph recipe reported.</summary>
public sealed record GraphRecipeResult(GraphPretrainResult Pretrain, TrainResult Stage1, TrainResult Stage2, GraphEvalReport Eval);

/// <summary>
/// LLaVA's two stages for the graph plugin, onto an existing LLaVA model (by default the shipped image toy model, whose
/// language model it starts from): pretrain a GIN on synthetic molecules, attach it (<see cref="GraphAttacher"/>), scale
/// the new projector to the token embeddings, stage 1 on captions (graph projector only: encoders, image projector and
/// language model frozen), stage 2 on question/answer conversations (graph projector and language model), then
/// evaluate on fresh molecules. Everything goes through the library's own trainer (<see cref="Trainer"/>).
/// </summary>
public static class GraphRecipe
{
    /// <summary>Runs the recipe onto <paramref name="baseModel"/>; intermediate folders go under <paramref name="workDirectory"/>, the model to <paramref name="outputDirectory"/>.</summary>
    public static GraphRecipeResult Run(string baseModel, string workDirectory, string outputDirectory, GraphRecipeOptions options, Action<string, TrainProgress>? progress = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var root = Path.Combine(workDirectory, "data");
        var data = GraphCurriculum.Write(root, options.Molecules, options.Seed, options.QuestionsPerMolecule);
        log?.Invoke($"synth: {options.Molecules} molecules ({data.Stage1.Count} captions, {data.Stage2.Count} conversations)");

        var (gin, pretrain) = GraphPretrainer.Run(options.Encoder, options.Pretrain with { Seed = options.Seed }, p => progress?.Invoke("graph encoder", p));
        log?.Invoke($"graph encoder pretraining: {pretrain.Seconds:F0} s, loss {pretrain.FinalLoss:F4}, held-out masked atoms {pretrain.MaskedAtomAccuracy:P1}, all nine properties {pretrain.PropertyAccuracy:P1}");
        var attached = Path.Combine(workDirectory, "attached");
        using (gin) GraphAttacher.Attach(baseModel, gin, attached);

        IModalityEncoderFactory[] plugins = [new MoleculeGraphFactory(options.Seed)];
        using var model = LlavaTrainingModel.Load(attached, plugins: plugins);
        var factor = model.MatchProjectorScale(MoleculeGraphEncoder.Name, data.Stage1.Take(32).Select(s => Path.Combine(root, s.Media![0].File)).ToList());
        log?.Invoke($"graph projector scaled by {factor:G3} to the token embeddings' norm");
        var stage1 = Trainer.Run(model, data.Stage1, root, Path.Combine(workDirectory, "stage1"), options.Stage1 with { Seed = options.Seed }, p => progress?.Invoke("stage 1", p));
        log?.Invoke($"stage 1: {stage1.Seconds:F0} s, {stage1.Steps} steps, loss {stage1.FirstLoss:F3} -> {stage1.FinalLoss:F3}, eval loss {stage1.InitialEvalLoss:F3} -> {stage1.EvalLoss:F3}");
        var stage2 = Trainer.Run(model, data.Stage2, root, outputDirectory, options.Stage2 with { Seed = options.Seed }, p => progress?.Invoke("stage 2", p));
        log?.Invoke($"stage 2: {stage2.Seconds:F0} s, {stage2.Steps} steps, loss {stage2.FirstLoss:F3} -> {stage2.FinalLoss:F3}, eval loss {stage2.InitialEvalLoss:F3} -> {stage2.EvalLoss:F3}");
        return new GraphRecipeResult(pretrain, stage1, stage2, Finish(outputDirectory, options, log));
    }

    /// <summary>
    /// A further stage-2 run on a trained graph model (<paramref name="modelDirectory"/>) with fresh molecules of
    /// <paramref name="options"/>' seed: more steps without repeating pretraining and stage 1 (what the audio model's
    /// second run did). Evaluates like <see cref="Run"/>.
    /// </summary>
    public static (TrainResult Stage2, GraphEvalReport Eval) Continue(string modelDirectory, string workDirectory, string outputDirectory, GraphRecipeOptions options, Action<string, TrainProgress>? progress = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var root = Path.Combine(workDirectory, "data");
        var data = GraphCurriculum.Write(root, options.Molecules, options.Seed, options.QuestionsPerMolecule);
        using var model = LlavaTrainingModel.Load(modelDirectory, plugins: [new MoleculeGraphFactory()]);
        var stage2 = Trainer.Run(model, data.Stage2, root, outputDirectory, options.Stage2 with { Seed = options.Seed }, p => progress?.Invoke("stage 2", p));
        log?.Invoke($"stage 2 (continued): {stage2.Seconds:F0} s, {stage2.Steps} steps, loss {stage2.FirstLoss:F3} -> {stage2.FinalLoss:F3}, eval loss {stage2.InitialEvalLoss:F3} -> {stage2.EvalLoss:F3}");
        return (stage2, Finish(outputDirectory, options, log));
    }

    /// <summary>Drops the optimizer state from the saved model (not part of it), then evaluates it on fresh molecules (seed + 1000).</summary>
    static GraphEvalReport Finish(string outputDirectory, GraphRecipeOptions options, Action<string>? log)
    {
        foreach (var leftover in new[] { Trainer.StateFileName, Trainer.OptimizerFileName }) File.Delete(Path.Combine(outputDirectory, leftover));
        using var loaded = MultimodalModel.Load(outputDirectory, [new LlavaVisionFactory(), new MoleculeGraphFactory()]);
        var eval = GraphEvaluator.Run(loaded, options.EvalScenes, options.Seed + 1000);
        log?.Invoke($"eval (seed {eval.Seed}, {eval.Scenes} molecules): overall {eval.Overall:P1} (majority answers {eval.MajorityBaseline:P1}), " + string.Join(", ", eval.ByType.Select(kv => $"{kv.Key} {kv.Value:P1}")));
        return eval;
    }
}
