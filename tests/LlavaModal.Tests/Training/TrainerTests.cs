using LlavaModal.Abstractions.Modality;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Tests.Support;
using LlavaModal.Training;
using LlavaModal.Training.Modeling;
using LlavaModal.Training.Optimization;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Training;

public class TrainerTests
{
    static Dictionary<string, Tensor> Snapshot(LlavaTrainingModel m) =>
        m.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.detach().clone());

    static TrainOptions Options(TrainingStage stage, long steps) => new()
    {
        Stage = stage, BatchSize = 4, MaxSteps = steps, LearningRate = 1e-2, WarmupRatio = 0, EvalFraction = 0.2, Seed = 3,
    };

    [Theory]
    [InlineData(TrainingStage.Stage1)]
    [InlineData(TrainingStage.Stage2)]
    public void Frozen_weights_stay_bit_identical_and_trained_ones_move(TrainingStage stage)
    {
        using var dir = new TempDir();
        var (samples, images) = TrainingTestModels.Data(dir.File("data"), 12);
        using var model = TrainingTestModels.Create();
        var before = Snapshot(model);
        Trainer.Run(model, samples, images, dir.File("out"), Options(stage, 1));
        foreach (var (name, p) in model.NamedParameters())
        {
            bool identical = p.detach().equal(before[name]).all().item<bool>();
            bool trained = name.StartsWith("multi_modal_projector.", StringComparison.Ordinal)
                || (stage == TrainingStage.Stage2 && name.StartsWith("language_model.", StringComparison.Ordinal));
            if (trained) Assert.False(identical, $"{name} did not move");
            else Assert.True(identical, $"{name} changed but is frozen in {stage}");
            Assert.Equal(trained, p.requires_grad);
        }
        // Optimizer state exists for the trained parameters only.
        using var file = LlavaModal.Core.Checkpoints.SafeTensorsFile.Open(Path.Combine(dir.File("out"), Trainer.OptimizerFileName));
        var trainedNames = model.TrainableParameters().Select(p => p.Name).ToHashSet();
        Assert.Equal(trainedNames.Count * 2, file.Tensors.Count);
        Assert.All(file.Tensors.Keys, k => Assert.Contains(k[(k.IndexOf('.') + 1)..], trainedNames));
    }

    [Fact]
    public void Training_lowers_the_loss_and_the_saved_folder_loads_for_inference()
    {
        using var dir = new TempDir();
        var (samples, images) = TrainingTestModels.Data(dir.File("data"), 24);
        using var model = TrainingTestModels.Create();
        var result = Trainer.Run(model, samples, images, dir.File("out"), Options(TrainingStage.Stage2, 40) with { LearningRate = 1e-2, WarmupRatio = 0.1 });
        Assert.True(result.FinalLoss < result.FirstLoss * 0.5, $"loss {result.FirstLoss} -> {result.FinalLoss}");
        Assert.NotNull(result.EvalLoss);
        Assert.True(result.EvalLoss < result.InitialEvalLoss, $"eval loss {result.InitialEvalLoss} -> {result.EvalLoss}");

        using var loaded = MultimodalModel.Load(dir.File("out"), [new LlavaVisionFactory()]);
        var reply = loaded.Chat([new(LlavaModal.Tokenizers.Chat.TurnRole.User, "How many objects are there?")],
            [ModalityInput.FromFile(Path.Combine(images, "scene-000000.png"))],
            new LlavaModal.Decoder.Generation.GenerationOptions { MaxNewTokens = 4 });
        Assert.True(reply.CompletionTokens > 0);
    }

    [Fact]
    public void A_resumed_run_ends_where_an_uninterrupted_one_does()
    {
        using var dir = new TempDir();
        var (samples, images) = TrainingTestModels.Data(dir.File("data"), 12);
        var options = Options(TrainingStage.Stage2, 4) with { LearningRate = 3e-3, WarmupRatio = 0.25 };
        using var straight = TrainingTestModels.Create();
        Trainer.Run(straight, samples, images, dir.File("a"), options);

        using (var first = TrainingTestModels.Create())
            Assert.Throws<OperationCanceledException>(() => Trainer.Run(first, samples, images, dir.File("b"), options with { SaveEvery = 2 },
                progress: p => { if (p.Step == 2) throw new OperationCanceledException("interrupted"); }));
        using var resumed = LlavaTrainingModel.Load(dir.File("b"));
        var result = Trainer.Run(resumed, samples, images, dir.File("b"), options with { SaveEvery = 2 }, resume: true);
        Assert.Equal(4, result.Steps);
        var expected = straight.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter);
        foreach (var (name, p) in resumed.NamedParameters())
            Assert.True(p.detach().allclose(expected[name], rtol: 1e-5, atol: 1e-7), $"{name} differs after resuming");
    }

    [Fact]
    public void Warmup_then_cosine()
    {
        var s = new LearningRateSchedule(1.0, 11, 2);
        Assert.Equal(0.5, s.At(0), 6);
        Assert.Equal(1.0, s.At(1), 6);
        Assert.Equal(1.0, s.At(2), 6);
        Assert.Equal(0.0, s.At(10), 6);
        Assert.True(s.At(6) is > 0.4 and < 0.6);
    }
}
