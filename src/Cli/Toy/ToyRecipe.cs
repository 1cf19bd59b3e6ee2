using LlavaModal.Abstractions.Vision;
using LlavaModal.Core.Adapters;
using LlavaModal.Decoder.Llama;
using LlavaModal.Encoders.Vision.Clip;
using LlavaModal.Multimodal.Adapters;
using LlavaModal.Tokenizers.Chat;
using LlavaModal.Training;
using LlavaModal.Training.Modeling;
using LlavaModal.Training.Pretraining;
using LlavaModal.Training.Tokenization;

namespace LlavaModal.Cli.Toy;

/// <summary>Sizes and step counts of the toy-model recipe.</summary>
sealed record RecipeOptions
{
    /// <summary>
    /// The toy model's system sentence (instead of vicuna_v1's ~40-word default, which was most of every sequence):
    /// stored as <c>llavamodal_system_prompt</c> in the model's <c>tokenizer_config.json</c>, so stage 1, stage 2,
    /// <c>eval</c>, <c>generate</c> and <c>chat</c> all render the same prompt.
    /// </summary>
    public const string ToySystemPrompt = "Answer about the image.";

    /// <summary>Seed of everything: scenes, initial weights, data order.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Scenes in the stage-1 / stage-2 data.</summary>
    public int Scenes { get; init; } = 20000;
    /// <summary>The vision tower's shape (64x64 images, 8x8 patches: 64 patch tokens + CLS).</summary>
    public ClipVisionConfig Vision { get; init; } = new()
    {
        HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 3, NumAttentionHeads = 4, ImageSize = 64, PatchSize = 8, HiddenAct = "gelu",
    };
    /// <summary>The language model's shape (LLaMA; <c>VocabSize</c> and <c>PadTokenId</c> are replaced by those of the tokenizer the recipe trains).</summary>
    public LlamaConfig Text { get; init; } = new()
    {
        VocabSize = 512, HiddenSize = 128, IntermediateSize = 320, NumHiddenLayers = 3, NumAttentionHeads = 4, NumKeyValueHeads = 4, HeadDim = 32,
        RmsNormEps = 1e-5, MaxPositionEmbeddings = 512, PadTokenId = HfFolders.PadTokenId,
    };
    /// <summary>Vision pretraining.</summary>
    public VisionPretrainOptions VisionPretrain { get; init; } = new() { Steps = 800, BatchSize = 32, LearningRate = 2e-3 };
    /// <summary>Language pretraining.</summary>
    public LanguagePretrainOptions LanguagePretrain { get; init; } = new() { Steps = 300, BatchSize = 16, LearningRate = 3e-3, SystemPrompt = ToySystemPrompt };
    /// <summary>Stage 1 (projector only).</summary>
    public TrainOptions Stage1 { get; init; } = new() { Stage = TrainingStage.Stage1, MaxSteps = 200, BatchSize = 16, LearningRate = 2e-3, WarmupRatio = 0.05 };
    /// <summary>Stage 2 (projector and language model).</summary>
    public TrainOptions Stage2 { get; init; } = new() { Stage = TrainingStage.Stage2, MaxSteps = 6000, BatchSize = 16, LearningRate = 2e-3, WarmupRatio = 0.03, MinLearningRateRatio = 0.05 };
    /// <summary>LoRA adapters for stage 2 instead of training the language model's weights (null: full stage 2); the adapter is merged into the output folder.</summary>
    public LoraSettings? Stage2Lora { get; init; }
    /// <summary>Scale the new projector's output to the token embeddings' norm before stage 1 (see <see cref="LlavaTrainingModel.MatchProjectorScale(IReadOnlyList{string})"/>).</summary>
    public bool MatchProjectorScale { get; init; } = true;
    /// <summary>Scenes of the final evaluation.</summary>
    public int EvalScenes { get; init; } = 200;

    /// <summary>A shortened curriculum for CI: small models and few steps (a minute or two on 2 cores).</summary>
    public static RecipeOptions Quick { get; } = new()
    {
        Scenes = 300,
        Vision = new() { HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 2, ImageSize = 32, PatchSize = 8, HiddenAct = "gelu" },
        Text = new()
        {
            VocabSize = 512, HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 2, NumAttentionHeads = 2, NumKeyValueHeads = 2, HeadDim = 32,
            RmsNormEps = 1e-5, MaxPositionEmbeddings = 512, PadTokenId = HfFolders.PadTokenId,
        },
        VisionPretrain = new() { Steps = 300, BatchSize = 32, LearningRate = 3e-3 },
        LanguagePretrain = new() { Steps = 40, BatchSize = 16, LearningRate = 3e-3, SystemPrompt = ToySystemPrompt },
        Stage1 = new() { Stage = TrainingStage.Stage1, MaxSteps = 50, BatchSize = 16, LearningRate = 3e-3, WarmupRatio = 0.05, EvalFraction = 0.05, MaxEvalSamples = 16 },
        Stage2 = new() { Stage = TrainingStage.Stage2, MaxSteps = 600, BatchSize = 16, LearningRate = 2e-3, WarmupRatio = 0.05, EvalFraction = 0.05, MaxEvalSamples = 16 },
        EvalScenes = 60,
    };
}

/// <summary>What each phase of the recipe reported.</summary>
/// <param name="Vision">Vision pretraining.</param>
/// <param name="LanguageLoss">Language pretraining (first loss, final loss, seconds).</param>
/// <param name="Stage1">Stage 1.</param>
/// <param name="Stage2">Stage 2.</param>
/// <param name="Eval">Evaluation on fresh scenes (seed + 1000).</param>
sealed record RecipeResult(VisionPretrainResult Vision, (double First, double Final, double Seconds) LanguageLoss, TrainResult Stage1, TrainResult Stage2, EvalReport Eval);

/// <summary>
/// The whole LLaVA recipe on the synthetic curriculum, as the shipped toy model was made: generate scenes; train a
/// tokenizer on their text; pretrain a CLIP-architecture tower on them and a LLaMA-architecture model on the
/// curriculum's text; assemble them with a new
/// mlp2x_gelu projector; stage 1 on captions (projector only); stage 2 on question/answer conversations (projector and
/// language model); evaluate on fresh scenes.
/// </summary>
static class ToyRecipe
{
    /// <summary>Runs the recipe; intermediate folders go under <paramref name="workDirectory"/>, the model to <paramref name="outputDirectory"/>.</summary>
    /// <param name="workDirectory">Data and intermediate models.</param>
    /// <param name="outputDirectory">The final LLaVA folder.</param>
    /// <param name="options">Sizes and steps.</param>
    /// <param name="progress">Receives (phase, progress).</param>
    /// <param name="log">Receives one line per finished phase.</param>
    public static RecipeResult Run(string workDirectory, string outputDirectory, RecipeOptions options, Action<string, TrainProgress>? progress = null, Action<string>? log = null)
    {
        var data = Curriculum.Write(Path.Combine(workDirectory, "data"), options.Scenes, options.Seed, options.Vision.ImageSize, options.Vision.PatchSize);
        log?.Invoke($"synth: {options.Scenes} scenes, {data.Stage1.Count} captions, {data.Stage2.Count} conversations");

        // The language model's own tokenizer, trained on the text it will see (see SentencePieceBpeTrainer for why).
        var tokenizerDir = Path.Combine(workDirectory, "tokenizer");
        var template = ChatTemplate.Named("vicuna_v1");
        var corpus = data.Stage1.Concat(data.Stage2).Select(s => template.Render(
            [new ChatTurn(TurnRole.System, RecipeOptions.ToySystemPrompt), .. s.Conversations.Select(c => new ChatTurn(c.From == "human" ? TurnRole.User : TurnRole.Assistant, c.Value))]));
        var tokenizer = SentencePieceBpeTrainer.WriteFolder(tokenizerDir, corpus);
        var text = options.Text with { VocabSize = tokenizer.VocabSize, PadTokenId = tokenizer.PadTokenId };
        log?.Invoke($"tokenizer: {tokenizer.Pieces} pieces (+ <image> = {tokenizer.ImageTokenId}, <pad> = {tokenizer.PadTokenId})");

        var visionDir = Path.Combine(workDirectory, "vision");
        var vision = VisionPretrainer.Run(options.Vision, visionDir, options.VisionPretrain with { Seed = options.Seed }, p => progress?.Invoke("vision", p));
        log?.Invoke($"vision pretraining: {vision.Seconds:F0} s, loss {vision.FinalLoss:F4}, held-out patch colour {vision.PatchColorAccuracy:P1}, patch shape {vision.PatchShapeAccuracy:P1} (object patches {vision.ObjectPatchShapeAccuracy:P1}), count {vision.CountAccuracy:P1}");

        var languageDir = Path.Combine(workDirectory, "language");
        var language = LanguagePretrainer.Run(text, data.Stage1.Concat(data.Stage2).ToList(), languageDir, options.LanguagePretrain with { Seed = options.Seed, TokenizerDirectory = tokenizerDir }, p => progress?.Invoke("language", p));
        log?.Invoke($"language pretraining: {language.Seconds:F0} s, loss {language.FirstLoss:F3} -> {language.FinalLoss:F3}");

        using var model = LlavaTrainingModel.FromParts(visionDir, languageDir, new FeatureSelection([-1], "full"), seed: options.Seed);
        var probe = data.Stage1.Take(16).Select(s => Path.Combine(data.ImageFolder, s.Image!)).ToList();
        void Norms(string when)
        {
            var (t, i) = model.EmbeddingNorms(probe);
            log?.Invoke($"embedding norms {when}: token {t:F3}, projected image token {i:F3} (ratio {i / t:F2})");
        }
        Norms("at initialisation");
        if (options.MatchProjectorScale)
        {
            model.MatchProjectorScale(probe);
            Norms("after scaling the projector");
        }
        var stage1 = Trainer.Run(model, data.Stage1, data.ImageFolder, Path.Combine(workDirectory, "stage1"), options.Stage1 with { Seed = options.Seed }, p => progress?.Invoke("stage 1", p));
        log?.Invoke($"stage 1: {stage1.Seconds:F0} s, loss {stage1.FirstLoss:F3} -> {stage1.FinalLoss:F3}, eval loss {stage1.InitialEvalLoss:F3} -> {stage1.EvalLoss:F3}");
        Norms("after stage 1");
        TrainResult stage2;
        if (options.Stage2Lora is { } lora)
        {
            // Stage 2 trains adapters on the stage-1 model, which is then merged into an ordinary folder.
            var adapterDir = Path.Combine(workDirectory, "stage2-lora");
            TorchSharp.torch.manual_seed(options.Seed);
            using var tuned = LlavaTrainingModel.Load(Path.Combine(workDirectory, "stage1"), lora: lora);
            stage2 = Trainer.Run(tuned, data.Stage2, data.ImageFolder, adapterDir, options.Stage2 with { Seed = options.Seed }, p => progress?.Invoke("stage 2", p));
            log?.Invoke($"stage 2 (LoRA rank {lora.Rank}, {tuned.TrainableParameters().Where(p => p.Name.Contains(".lora_", StringComparison.Ordinal)).Sum(p => p.Parameter.numel())} adapter parameters): "
                + $"{stage2.Seconds:F0} s, loss {stage2.FirstLoss:F3} -> {stage2.FinalLoss:F3}, eval loss {stage2.InitialEvalLoss:F3} -> {stage2.EvalLoss:F3}");
            AdapterMerger.Merge(adapterDir, null, outputDirectory, overwrite: true);
        }
        else
        {
            stage2 = Trainer.Run(model, data.Stage2, data.ImageFolder, outputDirectory, options.Stage2 with { Seed = options.Seed }, p => progress?.Invoke("stage 2", p));
            log?.Invoke($"stage 2: {stage2.Seconds:F0} s, loss {stage2.FirstLoss:F3} -> {stage2.FinalLoss:F3}, eval loss {stage2.InitialEvalLoss:F3} -> {stage2.EvalLoss:F3}");
            Norms("after stage 2");
        }
        var eval = SceneEvaluator.Run(outputDirectory, options.EvalScenes, options.Seed + 1000);
        log?.Invoke($"eval (seed {eval.Seed}, {eval.Scenes} scenes): overall {eval.Overall:P1}, " + string.Join(", ", eval.ByType.Select(kv => $"{kv.Key} {kv.Value:P1}")));
        return new RecipeResult(vision, language, stage1, stage2, eval);
    }
}
