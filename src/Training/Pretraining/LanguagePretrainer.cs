using System.Diagnostics;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Core.Attention;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Modules;
using LlavaModal.Decoder.Llama;
using LlavaModal.Multimodal.Loading;
using LlavaModal.Tokenizers;
using LlavaModal.Tokenizers.Chat;
using LlavaModal.Training.Data;
using LlavaModal.Training.Modeling;
using LlavaModal.Training.Optimization;
using static TorchSharp.torch;

namespace LlavaModal.Training.Pretraining;

/// <summary>Settings of language-model pretraining.</summary>
public sealed record LanguagePretrainOptions
{
    /// <summary>Optimizer steps.</summary>
    public int Steps { get; init; } = 400;
    /// <summary>Sequences per step.</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; init; } = 3e-3;
    /// <summary>Seed of the initial weights and the data order.</summary>
    public int Seed { get; init; }
    /// <summary>
    /// System sentence replacing vicuna_v1's default (written to <c>tokenizer_config.json</c> as
    /// <c>llavamodal_system_prompt</c>, so the later stages and inference use it too); null keeps the default.
    /// </summary>
    public string? SystemPrompt { get; init; }
    /// <summary>
    /// A tokenizer folder to use (e.g. one <see cref="Tokenization.SentencePieceBpeTrainer"/> trained on the same text);
    /// null writes the shipped llava-hf tokenizer. It must have <c>&lt;image&gt;</c> and <c>&lt;pad&gt;</c>, and the
    /// model's vocabulary must cover its ids.
    /// </summary>
    public string? TokenizerDirectory { get; init; }
}

/// <summary>
/// Pretrains a small LLaMA-architecture model on the curriculum's text: every conversation and caption rendered with
/// the chat template (as the later stages see it) with the image placeholder removed, next-token loss on every
/// token. Saves a Hugging Face LLaMA folder with its tokenizer (<see cref="LanguagePretrainOptions.TokenizerDirectory"/>, or
/// the shipped llava-hf one with <c>&lt;image&gt;</c> = 510 and <c>&lt;pad&gt;</c> = 511).
/// </summary>
public static class LanguagePretrainer
{
    /// <summary>Trains a new model of <paramref name="config"/> on <paramref name="samples"/> and saves it; returns (first loss, final loss, seconds).</summary>
    public static (double FirstLoss, double FinalLoss, double Seconds) Run(LlamaConfig config, IReadOnlyList<LlavaSample> samples, string outputDirectory, LanguagePretrainOptions options, Action<TrainProgress>? progress = null)
    {
        var clock = Stopwatch.StartNew();
        Directory.CreateDirectory(outputDirectory);
        if (options.TokenizerDirectory is { } source) HfFolders.CopyTokenizer(source, outputDirectory);
        else HfFolders.WriteTokenizer(outputDirectory);
        if (options.SystemPrompt is not null) HfFolders.SetSystemPrompt(outputDirectory, options.SystemPrompt);
        var tokenizer = HfTokenizer.FromPretrained(outputDirectory);
        int pad = tokenizer.PadTokenId ?? throw new ArgumentException($"{outputDirectory}: the tokenizer has no <pad> token.");
        if (pad >= config.VocabSize || tokenizer.VocabSize > config.VocabSize)
            throw new ArgumentException($"{outputDirectory}: the tokenizer has {tokenizer.VocabSize} ids (<pad> = {pad}) but the model's vocab_size is {config.VocabSize}.");
        config = config with { PadTokenId = pad };
        HfFolders.WriteGenerationConfig(outputDirectory, pad);
        var encoder = new ConversationEncoder(tokenizer, template: ChatTemplate.ForModel(outputDirectory));
        var sequences = samples.Select(s => tokenizer.Encode(encoder.Render(StripImage(s))).Select(i => (long)i).ToArray()).ToList();
        manual_seed(options.Seed);
        var family = BuiltInArchitectures.Catalog.FindDecoder(config.ModelType) ?? throw new ArgumentException($"'{config.ModelType}' is not a registered decoder family.", nameof(config));
        using var model = family.Create(config, new ModelBuildContext(ScalarType.Float32, CPU, TorchLinearFactory.Instance, new EagerAttention()));
        using (no_grad())
        {
            // LLaMA's initialisation: N(0, 0.02) for matrices, ones for norms.
            foreach (var (name, p) in model.named_parameters())
                if (!name.EndsWith("norm.weight", StringComparison.Ordinal)) p.normal_(0, 0.02);
        }
        var run = PretrainingLoop.Run(model.named_parameters().Select(p => (p.name, p.parameter)), options.Steps, options.BatchSize, options.LearningRate, step =>
        {
            var batch = Trainer.Batch(sequences, options.BatchSize, step, options.Seed);
            long t = batch.Max(b => b.Length);
            var ids = tensor(batch.SelectMany(b => b.Concat(Enumerable.Repeat((long)pad, (int)(t - b.Length)))).ToArray()).view(batch.Count, t);
            var labels = tensor(batch.SelectMany(b => b.Concat(Enumerable.Repeat((long)ConversationEncoder.IgnoreIndex, (int)(t - b.Length)))).ToArray()).view(batch.Count, t);
            var padding = tensor(batch.SelectMany(b => Enumerable.Range(0, (int)t).Select(i => i < b.Length ? 1L : 0L)).ToArray()).view(batch.Count, t);
            var positions = Scalars.Arange(0, t).unsqueeze(0).expand(batch.Count, t);
            var logits = model.Forward(model.Embed(ids.MaskedFillScalar(Scalars.With((long)pad, s => ids.eq(s)), 0L)), positions, padding);
            return nn.functional.cross_entropy(logits.narrow(1, 0, t - 1).reshape(-1, config.VocabSize), labels.narrow(1, 1, t - 1).reshape(-1), ignore_index: ConversationEncoder.IgnoreIndex);
        }, progress);
        var specs = model.named_parameters().Select(p => new TensorSpec(p.name, p.parameter.shape, ScalarType.Float32)).ToList();
        var byName = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        SafeTensorsWriter.WriteCheckpoint(outputDirectory, specs, s => byName[s.Name].detach().clone());
        HfFolders.WriteJson(Path.Combine(outputDirectory, "config.json"), HfFolders.DecoderConfigJson(config, ScalarType.Float32, pad));
        return (run.FirstLoss, run.FinalLoss, clock.Elapsed.TotalSeconds);
    }

    static LlavaSample StripImage(LlavaSample s) => s with
    {
        Image = null,
        Conversations = s.Conversations.Select(c => c with { Value = c.Value.Replace(LlavaDataFile.ImagePlaceholder + "\n", "", StringComparison.Ordinal).Replace(LlavaDataFile.ImagePlaceholder, "", StringComparison.Ordinal) }).ToList(),
    };
}
