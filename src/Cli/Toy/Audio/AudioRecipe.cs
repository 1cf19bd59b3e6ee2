using LlavaModal.Abstractions.Modality;
using LlavaModal.Encoders.Audio.Plugin;
using LlavaModal.Encoders.Audio.Whisper;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Training;
using LlavaModal.Training.Data;
using LlavaModal.Training.Modeling;

namespace LlavaModal.Cli.Toy.Audio;

/// <summary>Sizes and step counts of the audio recipe.</summary>
sealed record AudioRecipeOptions
{
    /// <summary>Seed of everything: clips, initial weights, data order.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Clips in the stage-1 / stage-2 data.</summary>
    public int Clips { get; init; } = 6000;
    /// <summary>Image scenes mixed into stage 2 so the language model keeps answering about images.</summary>
    public int ImageScenes { get; init; } = 1500;
    /// <summary>Of the clips, how many are also asked about together with an image (one prompt, both placeholders).</summary>
    public int Mixed { get; init; } = 500;
    /// <summary>The audio encoder's shape (Whisper architecture; 40 mel bins, 50 positions: 2 s windows of <see cref="AudioCurriculum.Features"/>).</summary>
    public WhisperEncoderConfig Encoder { get; init; } = new() { DModel = 64, EncoderLayers = 2, EncoderAttentionHeads = 4, EncoderFfnDim = 128, NumMelBins = 40, MaxSourcePositions = 50 };
    /// <summary>Encoder pretraining.</summary>
    public AudioPretrainOptions Pretrain { get; init; } = new() { Steps = 800, BatchSize = 32, LearningRate = 2e-3 };
    /// <summary>Stage 1 (audio projector only).</summary>
    public TrainOptions Stage1 { get; init; } = new() { Stage = TrainingStage.Stage1, Modalities = ["audio"], MaxSteps = 200, BatchSize = 16, LearningRate = 2e-3, WarmupRatio = 0.05 };
    /// <summary>Stage 2 (audio projector and language model; the image projector stays as it is).</summary>
    public TrainOptions Stage2 { get; init; } = new() { Stage = TrainingStage.Stage2, Modalities = ["audio"], MaxSteps = 1500, BatchSize = 16, LearningRate = 1e-3, WarmupRatio = 0.03, MinLearningRateRatio = 0.05 };
    /// <summary>Clips (and image scenes) of the final evaluation.</summary>
    public int EvalScenes { get; init; } = 200;

    /// <summary>A shortened curriculum for CI (about a minute on 2 cores).</summary>
    public static AudioRecipeOptions Quick { get; } = new()
    {
        Clips = 300,
        ImageScenes = 0,
        Mixed = 0,
        Encoder = new() { DModel = 32, EncoderLayers = 2, EncoderAttentionHeads = 2, EncoderFfnDim = 64, NumMelBins = 40, MaxSourcePositions = 50 },
        Pretrain = new() { Steps = 300, BatchSize = 32, LearningRate = 3e-3, EvalClips = 64 },
        Stage1 = new() { Stage = TrainingStage.Stage1, Modalities = ["audio"], MaxSteps = 40, BatchSize = 16, LearningRate = 3e-3, WarmupRatio = 0.05, EvalFraction = 0.05, MaxEvalSamples = 16 },
        Stage2 = new() { Stage = TrainingStage.Stage2, Modalities = ["audio"], MaxSteps = 400, BatchSize = 8, LearningRate = 2e-3, WarmupRatio = 0.05, EvalFraction = 0.05, MaxEvalSamples = 16 },
        EvalScenes = 40,
    };
}

/// <summary>What each phase of the audio recipe reported.</summary>
/// <param name="Pretrain">Encoder pretraining.</param>
/// <param name="Stage1">Stage 1.</param>
/// <param name="Stage2">Stage 2.</param>
/// <param name="Audio">Audio evaluation on fresh clips (seed + 1000).</param>
/// <param name="Image">Image evaluation on fresh scenes (seed + 1000): what stage 2 kept of the base model.</param>
sealed record AudioRecipeResult(AudioPretrainResult Pretrain, TrainResult Stage1, TrainResult Stage2, AudioEvalReport Audio, EvalReport Image);

/// <summary>
/// LLaVA's two stages for the audio plugin, onto an existing LLaVA model (by default the shipped image toy model):
/// pretrain a small Whisper-architecture encoder on synthetic clips, attach it with a new projector
/// (<c>attach-audio</c>'s code, average-pooled), stage 1 on captions (audio projector only: encoders, image projector
/// and language model frozen), stage 2 on question/answer conversations mixed with image conversations and
/// image-plus-audio ones (audio projector and language model), then evaluate audio and image on fresh seeds.
/// </summary>
static class AudioRecipe
{
    /// <summary>Runs the recipe onto <paramref name="baseModel"/>; intermediate folders go under <paramref name="workDirectory"/>, the model to <paramref name="outputDirectory"/>.</summary>
    public static AudioRecipeResult Run(string baseModel, string workDirectory, string outputDirectory, AudioRecipeOptions options, Action<string, TrainProgress>? progress = null, Action<string>? log = null)
    {
        var root = Path.Combine(workDirectory, "data");
        var audio = AudioCurriculum.Write(root, options.Clips, options.Seed);
        int imageSize = Abstractions.Configuration.JsonConfig.Load(Path.Combine(baseModel, "config.json")).Section("vision_config").Int("image_size", 64);
        var images = options.ImageScenes > 0 ? Curriculum.Write(Path.Combine(root, "img"), options.ImageScenes, options.Seed, imageSize) : null;
        var imageSamples = (images?.Stage2 ?? []).Select(s => s.Image is null ? s : s with { Image = $"img/images/{s.Image}" }).ToList();
        var mixed = Enumerable.Range(0, Math.Min(options.Mixed, Math.Min(options.Clips, options.ImageScenes))).Select(i =>
        {
            var random = new Random(options.Seed * 7919 + i);
            var question = AudioCurriculum.Ask((AudioQuestionType)random.Next(5), audio.Scenes[i]);
            var picture = Curriculum.Ask((QuestionType)random.Next(3), images!.Scenes[i], random);
            return new LlavaSample($"mixed-{i:D6}", $"img/images/scene-{i:D6}.png",
                [new("human", $"{LlavaDataFile.ImagePlaceholder}\n{AudioCurriculum.Placeholder}\n{question.Text}"), new("gpt", question.Answer), new("human", picture.Text), new("gpt", picture.Answer)],
                audio.Stage2[i].Media);
        }).ToList();
        log?.Invoke($"synth: {options.Clips} clips ({audio.Stage1.Count} captions, {audio.Stage2.Count} conversations), {imageSamples.Count} image conversations, {mixed.Count} image + audio conversations");

        var encoderDir = Path.Combine(workDirectory, "audio-encoder");
        var pretrain = AudioPretrainer.Run(options.Encoder, encoderDir, options.Pretrain with { Seed = options.Seed }, p => progress?.Invoke("audio encoder", p));
        log?.Invoke($"audio encoder pretraining: {pretrain.Seconds:F0} s, loss {pretrain.FinalLoss:F4}, held-out token {pretrain.TokenAccuracy:P1}, count {pretrain.CountAccuracy:P1}, rhythm {pretrain.RhythmAccuracy:P1}, noise {pretrain.NoiseAccuracy:P1}");

        var attached = Path.Combine(workDirectory, "attached");
        AudioAttacher.Attach(baseModel, encoderDir, attached, new AttachAudioOptions { AveragePool = true, Seed = options.Seed });
        IModalityEncoderFactory[] plugins = [new AudioEncoderFactory()];
        using var model = LlavaTrainingModel.Load(attached, plugins: plugins);
        // As the image recipe does: a new projector's tokens start far larger than the token embeddings (stage 1 began at a loss of 17).
        var factor = model.MatchProjectorScale("audio", audio.Stage1.Take(16).Select(s => Path.Combine(root, s.Media![0].File)).ToList());
        log?.Invoke($"audio projector scaled by {factor:G3} to the token embeddings' norm");
        var stage1 = Trainer.Run(model, audio.Stage1, root, Path.Combine(workDirectory, "stage1"), options.Stage1 with { Seed = options.Seed }, p => progress?.Invoke("stage 1", p));
        log?.Invoke($"stage 1: {stage1.Seconds:F0} s, {stage1.Steps} steps, loss {stage1.FirstLoss:F3} -> {stage1.FinalLoss:F3}, eval loss {stage1.InitialEvalLoss:F3} -> {stage1.EvalLoss:F3}");
        var stage2Data = audio.Stage2.Concat(imageSamples).Concat(mixed).ToList();
        var stage2 = Trainer.Run(model, stage2Data, root, outputDirectory, options.Stage2 with { Seed = options.Seed }, p => progress?.Invoke("stage 2", p));
        log?.Invoke($"stage 2: {stage2.Seconds:F0} s, {stage2.Steps} steps, loss {stage2.FirstLoss:F3} -> {stage2.FinalLoss:F3}, eval loss {stage2.InitialEvalLoss:F3} -> {stage2.EvalLoss:F3}");
        foreach (var leftover in new[] { Trainer.StateFileName, Trainer.OptimizerFileName }) File.Delete(Path.Combine(outputDirectory, leftover));

        using var loaded = MultimodalModel.Load(outputDirectory, [new LlavaVisionFactory(), new AudioEncoderFactory()]);
        var audioEval = AudioEvaluator.Run(loaded, options.EvalScenes, options.Seed + 1000);
        log?.Invoke($"audio eval (seed {audioEval.Seed}, {audioEval.Scenes} clips): overall {audioEval.Overall:P1}, " + string.Join(", ", audioEval.ByType.Select(kv => $"{kv.Key} {kv.Value:P1}")));
        var imageEval = SceneEvaluator.Run(loaded, options.EvalScenes, options.Seed + 1000);
        log?.Invoke($"image eval (seed {imageEval.Seed}, {imageEval.Scenes} scenes): overall {imageEval.Overall:P1}, " + string.Join(", ", imageEval.ByType.Select(kv => $"{kv.Key} {kv.Value:P1}")));
        return new AudioRecipeResult(pretrain, stage1, stage2, audioEval, imageEval);
    }
}
