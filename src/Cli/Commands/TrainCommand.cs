using System.CommandLine;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Core.Adapters;
using LlavaModal.Encoders.Audio.Plugin;
using LlavaModal.Training;
using LlavaModal.Training.Data;
using LlavaModal.Training.Modeling;

namespace LlavaModal.Cli.Commands;

/// <summary><c>llava-modal train</c>: one LLaVA training stage on LLaVA-format data.</summary>
static class TrainCommand
{
    public static Command Create()
    {
        var stage = new Option<int>("--stage") { Description = "1: train the projector(s) (encoders and language model frozen); 2: projector(s) and language model (encoders frozen).", Required = true };
        var model = new Option<string?>("--model") { Description = "LLaVA folder to start from (llava-hf layout). A folder without projector weights gets a new projector in stage 1." };
        var vision = new Option<string?>("--vision") { Description = "Instead of --model: a CLIP vision folder (with preprocessor_config.json) to assemble with --language and a new projector." };
        var language = new Option<string?>("--language") { Description = "Instead of --model: a LLaMA folder whose tokenizer has <image>." };
        var data = new Option<string>("--data") { Description = "LLaVA JSON data file: [{ id, image, media: [{ modality, file }], conversations: [{ from: human|gpt, value }] }].", Required = true };
        var images = new Option<string?>("--images") { Description = "Folder the samples' image and media paths are relative to." };
        var modalities = new Option<string[]>("--modalities") { Description = "Modalities whose projectors the stage trains (image, audio; default: those the data holds); the others stay frozen.", AllowMultipleArgumentsPerToken = true };
        var output = new Option<string>("--out") { Description = "Output folder: the trained model (llava-hf layout) plus optimizer.safetensors and trainer_state.json for --resume (new or empty unless --force; never overlapping an input).", Required = true };
        var force = Outputs.ForceOption();
        var steps = new Option<long?>("--steps") { Description = "Optimizer steps (default: --epochs passes over the data)." };
        var epochs = new Option<double>("--epochs") { Description = "Passes over the training split.", DefaultValueFactory = _ => 1 };
        var batch = new Option<int>("--batch-size") { Description = "Samples per micro-batch.", DefaultValueFactory = _ => 16 };
        var accumulation = new Option<int>("--grad-accum") { Description = "Micro-batches per optimizer step.", DefaultValueFactory = _ => 1 };
        var lr = new Option<double?>("--lr") { Description = "Peak learning rate (default 2e-3 in stage 1, 1e-3 in stage 2)." };
        var warmup = new Option<double>("--warmup-ratio") { Description = "Fraction of steps of linear warm-up before the cosine decay.", DefaultValueFactory = _ => 0.03 };
        var minLr = new Option<double>("--min-lr-ratio") { Description = "Final learning rate as a fraction of the peak.", DefaultValueFactory = _ => 0 };
        var decay = new Option<double>("--weight-decay") { Description = "AdamW weight decay.", DefaultValueFactory = _ => 0 };
        var clip = new Option<double>("--max-grad-norm") { Description = "Gradient clipping norm (0 = off).", DefaultValueFactory = _ => 1 };
        var seed = new Option<long>("--seed") { Description = "Seed of data order, held-out split and new weights.", DefaultValueFactory = _ => 0 };
        var evalFraction = new Option<double>("--eval-fraction") { Description = "Fraction held out for the evaluation loss.", DefaultValueFactory = _ => 0.05 };
        var evalEvery = new Option<int>("--eval-every") { Description = "Evaluate every N steps (0 = at the end).", DefaultValueFactory = _ => 0 };
        var saveEvery = new Option<int>("--save-every") { Description = "Save a resumable checkpoint to --out every N steps (0 = at the end).", DefaultValueFactory = _ => 0 };
        var resume = new Option<bool>("--resume") { Description = "Continue the run saved in --out (model, optimizer, step)." };
        var threads = TorchThreads.Option();
        var saveDType = new Option<string>("--save-dtype") { Description = "Stored dtype of the weights: f32 or bf16 (training itself runs in fp32).", DefaultValueFactory = _ => "f32" };
        var loraRank = new Option<int?>("--lora-rank") { Description = "Stage 2 with LoRA adapters of this rank on the language model (its weights frozen); --out gets a PEFT adapter folder." };
        var loraAlpha = new Option<double?>("--lora-alpha") { Description = "LoRA alpha: the update is scaled by alpha / rank (default: 2 x rank)." };
        var loraDropout = new Option<double>("--lora-dropout") { Description = "Dropout on the adapters' input while training.", DefaultValueFactory = _ => 0.05 };
        var loraTargets = new Option<string[]>("--lora-targets") { Description = "Layers that get adapters (default: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj).", AllowMultipleArgumentsPerToken = true };
        var command = new Command("train", "Train one LLaVA stage (fp32 on CPU; TorchSharp has no autocast) and save a Hugging Face folder that `generate`, `chat` and `eval` load.")
        {
            stage, model, vision, language, data, images, modalities, output, steps, epochs, batch, accumulation, lr, warmup, minLr, decay, clip, seed, evalFraction, evalEvery, saveEvery, resume, threads, saveDType, force,
            loraRank, loraAlpha, loraDropout, loraTargets,
        };
        command.SetAction((parse, cancellation) => CliErrors.RunAsync(() =>
        {
            var s = parse.GetValue(stage) switch
            {
                1 => TrainingStage.Stage1,
                2 => TrainingStage.Stage2,
                var other => throw new ArgumentException($"--stage must be 1 or 2, got {other}."),
            };
            var outDir = parse.GetValue(output)!;
            bool isResume = parse.GetValue(resume);
            string? m = parse.GetValue(model), v = parse.GetValue(vision), l = parse.GetValue(language);
            if (!isResume && m is null == (v is null || l is null))
                throw new ArgumentException("give either --model, or --vision and --language.");
            if (!isResume) Outputs.Folder(outDir, "--out", parse.GetValue(force), m, v, l, parse.GetValue(data), parse.GetValue(images));
            var type = DTypes.Parse(parse.GetValue(saveDType)!, "--save-dtype");
            TorchThreads.Set(parse.GetValue(threads), "--threads");
            var options = new TrainOptions
            {
                Stage = s,
                MaxSteps = parse.GetValue(steps),
                Epochs = parse.GetValue(epochs),
                BatchSize = parse.GetValue(batch),
                GradientAccumulation = parse.GetValue(accumulation),
                LearningRate = parse.GetValue(lr) ?? (s == TrainingStage.Stage1 ? 2e-3 : 1e-3),
                WarmupRatio = parse.GetValue(warmup),
                MinLearningRateRatio = parse.GetValue(minLr),
                WeightDecay = parse.GetValue(decay),
                MaxGradNorm = parse.GetValue(clip),
                Seed = parse.GetValue(seed),
                EvalFraction = parse.GetValue(evalFraction),
                EvalEvery = parse.GetValue(evalEvery),
                SaveEvery = parse.GetValue(saveEvery),
                SaveDType = type,
                Modalities = parse.GetValue(modalities) is { Length: > 0 } chosen ? chosen.SelectMany(c => c.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList() : null,
            };
            options.Validate();
            var lora = Lora(parse.GetValue(loraRank), parse.GetValue(loraAlpha), parse.GetValue(loraDropout), parse.GetValue(loraTargets));
            if (lora is not null && s != TrainingStage.Stage2) throw new ArgumentException("--lora-rank trains adapters on the language model, which is stage 2 (stage 1 trains only the projectors).");
            if (lora is not null && m is null && !isResume) throw new ArgumentException("--lora-rank needs --model (the base the adapter is saved against), not --vision and --language.");
            var samples = LlavaDataFile.Load(parse.GetValue(data)!);
            // The built-in audio plugin loads when the folder carries an audio encoder (after attach-audio).
            IModalityEncoderFactory[] plugins = [new AudioEncoderFactory()];
            // New adapters start from this seed (A random, B zero).
            TorchSharp.torch.manual_seed(options.Seed);
            using var trainee = isResume ? LlavaTrainingModel.Load(outDir, plugins: plugins, lora: lora)
                : m is not null ? LlavaTrainingModel.Load(m, allowNewProjector: s == TrainingStage.Stage1, plugins: plugins, lora: lora)
                : LlavaTrainingModel.FromParts(v!, l!, new FeatureSelection([-1], "full"), seed: options.Seed);
            // A failed run (NaN loss, bad sample, cancellation) leaves no half-written model behind in a folder it started empty.
            var result = isResume
                ? TrainingProgress.Run(report => Trainer.Run(trainee, samples, parse.GetValue(images), outDir, options, p => report($"stage {(int)s}", p), isResume, cancellation))
                : Outputs.IntoFolder(outDir, () => TrainingProgress.Run(report => Trainer.Run(trainee, samples, parse.GetValue(images), outDir, options, p => report($"stage {(int)s}", p), isResume, cancellation)));
            if (double.IsNaN(result.FirstLoss))
            {
                Console.WriteLine($"stage {(int)s}: the run in {outDir} already finished its {result.Steps} steps; nothing to do.");
                return Task.FromResult(0);
            }
            Console.WriteLine($"stage {(int)s}: {result.Steps} steps in {result.Seconds:F0} s on {result.TrainSamples} samples; loss {result.FirstLoss:F4} -> {result.FinalLoss:F4}"
                + (result.EvalLoss is double e ? $"; held-out loss ({result.EvalSamples} samples) {(result.InitialEvalLoss is double i ? $"{i:F4} -> " : "")}{e:F4}" : "") + $"; saved to {outDir}");
            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>The LoRA settings the options ask for, or null without <c>--lora-rank</c>.</summary>
    static LoraSettings? Lora(int? rank, double? alpha, double dropout, string[]? targets)
    {
        if (rank is null)
        {
            if (alpha is not null || targets is { Length: > 0 }) throw new ArgumentException("--lora-alpha and --lora-targets need --lora-rank.");
            return null;
        }
        var lora = new LoraSettings
        {
            Rank = rank.Value,
            Alpha = alpha ?? 2.0 * rank.Value,
            Dropout = dropout,
            TargetModules = targets is { Length: > 0 } ? targets.SelectMany(t => t.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList() : LoraSettings.AllProjections,
        };
        lora.Validate();
        return lora;
    }
}
