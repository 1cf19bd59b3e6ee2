using System.Diagnostics;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Encoders.Vision.Clip;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Training;
using LlavaModal.Training.Modeling;
using LlavaModal.Training.Optimization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Cli.Toy;

/// <summary>Settings of vision pretraining.</summary>
sealed record VisionPretrainOptions
{
    /// <summary>Optimizer steps.</summary>
    public int Steps { get; init; } = 600;
    /// <summary>Scenes per step (fresh scenes every step).</summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; init; } = 2e-3;
    /// <summary>Seed of the scenes and of the initial weights.</summary>
    public int Seed { get; init; }
    /// <summary>Weight of the per-patch shape loss relative to the colour and count losses.</summary>
    public double ShapeLossWeight { get; init; } = 1;
    /// <summary>Held-out scenes for the reported accuracies.</summary>
    public int EvalScenes { get; init; } = 128;
}

/// <summary>Per-patch and per-image accuracies of the pretraining heads on held-out scenes, and the final loss.</summary>
/// <param name="PatchColorAccuracy">Colour (or background) of each patch.</param>
/// <param name="PatchShapeAccuracy">Shape (or background) of each patch.</param>
/// <param name="CountAccuracy">Object count from the CLS token.</param>
/// <param name="FinalLoss">Training loss at the end (mean of the last steps).</param>
/// <param name="Seconds">Wall time.</param>
/// <param name="ObjectPatchShapeAccuracy">Shape of the patches an object covers (background patches left out: they are most patches and easy).</param>
sealed record VisionPretrainResult(double PatchColorAccuracy, double PatchShapeAccuracy, double CountAccuracy, double FinalLoss, double Seconds, double ObjectPatchShapeAccuracy = double.NaN);

/// <summary>
/// Pretrains a CLIP-architecture vision transformer on synthetic scenes by supervised attribute prediction instead of
/// CLIP's contrastive objective (which needs far larger batches than a CPU run affords): linear heads read the tower's
/// selected features, and the loss is the cross-entropy of each patch's colour (6 colours or background) and shape
/// (3 shapes or background), the label being the object covering most of the patch (at least 6 of its pixels), plus
/// the object count (1-4) predicted from the CLS token. The heads are discarded; the tower is saved as a Hugging Face
/// <c>CLIPVisionModel</c> folder (<c>vision_model.*</c>, config, <c>preprocessor_config.json</c>).
/// </summary>
static class VisionPretrainer
{
    sealed class Heads : nn.Module
    {
#pragma warning disable IDE1006
        public readonly Linear color, shape, count;
#pragma warning restore IDE1006
        public Heads(int width) : base("heads")
        {
            color = nn.Linear(width, SceneGenerator.Colors.Count + 1);
            shape = nn.Linear(width, SceneGenerator.Shapes.Count + 1);
            count = nn.Linear(width, SceneGenerator.MaxObjects);
            RegisterComponents();
        }
    }

    /// <summary>Trains a new tower of <paramref name="config"/> and saves it to <paramref name="outputDirectory"/>.</summary>
    public static VisionPretrainResult Run(ClipVisionConfig config, string outputDirectory, VisionPretrainOptions options, Action<TrainProgress>? progress = null)
    {
        var clock = Stopwatch.StartNew();
        manual_seed(options.Seed);
        // The CLS token is kept ("full") because it carries the count; layer -1 because nothing reads later layers.
        using var tower = new ClipVisionModel(config, new FeatureSelection([-1], "full"));
        using var heads = new Heads(config.HiddenSize);
        Directory.CreateDirectory(outputDirectory);
        HfFolders.WritePreprocessorConfig(outputDirectory, config.ImageSize);
        var processor = ClipImageProcessor.FromDirectory(outputDirectory);
        var named = tower.named_parameters().Select(p => (p.name, p.parameter))
            .Concat(heads.named_parameters().Select(p => ("heads." + p.name, p.parameter))).ToList();
        var generator = new SceneGenerator(options.Seed, config.ImageSize, config.PatchSize);
        var run = PretrainingLoop.Run(named, options.Steps, options.BatchSize, options.LearningRate,
            step => Loss(tower, heads, processor, Enumerable.Range(0, options.BatchSize).Select(_ => generator.Next()).ToList(), config, out _, options.ShapeLossWeight), progress);

        // Held-out accuracies on scenes from another seed.
        double[] acc;
        using (no_grad())
        {
            var evalScenes = new SceneGenerator(options.Seed + 7919, config.ImageSize, config.PatchSize);
            var correct = new double[4];
            var totals = new double[4];
            for (int done = 0; done < options.EvalScenes; done += options.BatchSize)
            {
                using var scope = NewDisposeScope();
                var scenes = Enumerable.Range(0, Math.Min(options.BatchSize, options.EvalScenes - done)).Select(_ => evalScenes.Next()).ToList();
                Loss(tower, heads, processor, scenes, config, out var stats);
                for (int i = 0; i < 4; i++) { correct[i] += stats[i].Correct; totals[i] += stats[i].Total; }
            }
            acc = [.. correct.Zip(totals, (c, t) => c / t)];
        }

        // The tower's parameter names already are the checkpoint's (vision_model.*).
        var specs = tower.named_parameters().Select(p => new TensorSpec(p.name, p.parameter.shape, ScalarType.Float32)).ToList();
        var byName = tower.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        SafeTensorsWriter.WriteCheckpoint(outputDirectory, specs, s => byName[s.Name].detach().clone());
        HfFolders.WriteJson(Path.Combine(outputDirectory, "config.json"), HfFolders.VisionTowerConfigJson(tower, "CLIPVisionModel"));
        return new VisionPretrainResult(acc[0], acc[1], acc[2], run.FinalLoss, clock.Elapsed.TotalSeconds, acc[3]);
    }

    static Tensor Loss(ClipVisionModel tower, Heads heads, ClipImageProcessor processor, List<Scene> scenes, ClipVisionConfig config, out (double Correct, double Total)[] stats, double shapeWeight = 1)
    {
        using var scope = NewDisposeScope();
        var pixels = cat(scenes.Select(s => processor.Preprocess(s.Render()).ToTensor()).ToList(), 0);
        var features = tower.Features(pixels);        // [B, 1 + patches, H]
        var cls = features.select(1, 0);
        var patches = features.narrow(1, 1, features.shape[1] - 1);
        var (colors, shapes) = PatchLabels(scenes, config);
        var counts = tensor(scenes.Select(s => (long)s.Objects.Count - 1).ToArray());
        var colorLogits = heads.color.forward(patches).reshape(-1, SceneGenerator.Colors.Count + 1);
        var shapeLogits = heads.shape.forward(patches).reshape(-1, SceneGenerator.Shapes.Count + 1);
        var countLogits = heads.count.forward(cls);
        var loss = nn.functional.cross_entropy(colorLogits, colors).Plus(nn.functional.cross_entropy(shapeLogits, shapes).MulScalar(shapeWeight)).Plus(nn.functional.cross_entropy(countLogits, counts));
        stats =
        [
            (colorLogits.argmax(-1).eq(colors).sum().item<long>(), colors.shape[0]),
            (shapeLogits.argmax(-1).eq(shapes).sum().item<long>(), shapes.shape[0]),
            (countLogits.argmax(-1).eq(counts).sum().item<long>(), counts.shape[0]),
            (shapeLogits.argmax(-1).eq(shapes).logical_and(shapes.GtScalar(0)).sum().item<long>(), shapes.GtScalar(0).sum().item<long>()),
        ];
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>Per-patch colour and shape classes (0 = background), row-major like the patch tokens.</summary>
    internal static (Tensor Colors, Tensor Shapes) PatchLabels(IReadOnlyList<Scene> scenes, ClipVisionConfig config)
    {
        int grid = config.GridSize, p = config.PatchSize;
        var colors = new long[scenes.Count * grid * grid];
        var shapes = new long[colors.Length];
        for (int s = 0; s < scenes.Count; s++)
        {
            var scene = scenes[s];
            for (int gy = 0; gy < grid; gy++)
            for (int gx = 0; gx < grid; gx++)
            {
                var votes = new Dictionary<SceneObject, int>();
                for (int y = gy * p; y < (gy + 1) * p; y++)
                for (int x = gx * p; x < (gx + 1) * p; x++)
                    if (scene.ObjectAt(x, y) is { } o) votes[o] = votes.GetValueOrDefault(o) + 1;
                int i = (s * grid + gy) * grid + gx;
                if (votes.Count > 0 && votes.Max(v => v.Value) >= Math.Max(1, p * p / 10))
                {
                    var owner = votes.MaxBy(v => v.Value).Key;
                    colors[i] = 1 + SceneGenerator.Colors.ToList().FindIndex(c => c.Name == owner.Color.Name);
                    shapes[i] = 1 + (int)owner.Shape;
                }
            }
        }
        return (tensor(colors), tensor(shapes));
    }
}
