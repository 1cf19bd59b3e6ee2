using System.Diagnostics;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Encoders.Audio.Features;
using LlavaModal.Encoders.Audio.Whisper;
using LlavaModal.Training;
using LlavaModal.Training.Optimization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Cli.Toy.Audio;

/// <summary>Settings of audio-encoder pretraining.</summary>
sealed record AudioPretrainOptions
{
    /// <summary>Optimizer steps.</summary>
    public int Steps { get; init; } = 600;
    /// <summary>Clips per step (fresh clips every step).</summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; init; } = 2e-3;
    /// <summary>Seed of the clips and the initial weights.</summary>
    public int Seed { get; init; }
    /// <summary>Held-out clips for the reported accuracies.</summary>
    public int EvalClips { get; init; } = 128;
}

/// <summary>Held-out accuracies of the pretraining heads and the final loss.</summary>
/// <param name="TokenAccuracy">Per token: silence, or the pitch register and tone/chord of the beep sounding there.</param>
/// <param name="CountAccuracy">Beeps (1-4), from the mean token.</param>
/// <param name="RhythmAccuracy">Fast or slow, from the mean token.</param>
/// <param name="NoiseAccuracy">Noisy or quiet, from the mean token.</param>
/// <param name="FinalLoss">Mean loss of the last steps.</param>
/// <param name="Seconds">Wall time.</param>
sealed record AudioPretrainResult(double TokenAccuracy, double CountAccuracy, double RhythmAccuracy, double NoiseAccuracy, double FinalLoss, double Seconds);

/// <summary>
/// Pretrains a small Whisper-architecture encoder (average-pooled, as the audio plugin runs it with <c>audio_pool</c>) on
/// synthetic clips by supervised prediction, as the vision tower is pretrained: a linear head reads every output token
/// and names what sounds in its 80 ms (silence, or one of 3 registers × tone/chord) and whether a beep starts there, and
/// heads on the mean token give the beep count, the rhythm and the noise. The heads are discarded; the encoder is saved as a Hugging Face Whisper
/// folder (<see cref="WhisperFolder"/>) that <c>attach-audio</c> reads.
/// </summary>
static class AudioPretrainer
{
    sealed class Heads : nn.Module
    {
#pragma warning disable IDE1006
        public readonly Linear token, onset, count, rhythm, noise;
#pragma warning restore IDE1006
        public Heads(int width) : base("heads")
        {
            token = nn.Linear(width, 7);
            onset = nn.Linear(width, 2);
            count = nn.Linear(width, AudioSceneGenerator.MaxBeeps);
            rhythm = nn.Linear(width, 2);
            noise = nn.Linear(width, 2);
            RegisterComponents();
        }
    }

    /// <summary>Trains a new encoder of <paramref name="config"/> (pooling forced on) and saves it to <paramref name="outputDirectory"/>.</summary>
    public static AudioPretrainResult Run(WhisperEncoderConfig config, string outputDirectory, AudioPretrainOptions options, Action<TrainProgress>? progress = null)
    {
        var clock = Stopwatch.StartNew();
        manual_seed(options.Seed);
        config = config with { AveragePool = true };
        var features = new WhisperFeatureExtractor(AudioCurriculum.Features);
        if (config.InputFrames != features.Config.NbMaxFrames || config.NumMelBins != features.Config.FeatureSize)
            throw new ArgumentException($"the encoder takes [{config.NumMelBins}, {config.InputFrames}] features but the curriculum's extractor gives [{features.Config.FeatureSize}, {features.Config.NbMaxFrames}].", nameof(config));
        using var encoder = new WhisperEncoder(config);
        using var heads = new Heads(config.DModel);
        var named = encoder.named_parameters().Select(p => (p.name, p.parameter))
            .Concat(heads.named_parameters().Select(p => ("heads." + p.name, p.parameter))).ToList();
        var generator = new AudioSceneGenerator(options.Seed);
        encoder.train();
        var run = PretrainingLoop.Run(named, options.Steps, options.BatchSize, options.LearningRate,
            step => Loss(encoder, heads, features, Enumerable.Range(0, options.BatchSize).Select(_ => generator.Next()).ToList(), out _), progress);
        encoder.eval();

        var correct = new double[4];
        var totals = new double[4];
        using (no_grad())
        {
            var held = new AudioSceneGenerator(options.Seed + 7919);
            for (int done = 0; done < options.EvalClips; done += options.BatchSize)
            {
                using var scope = NewDisposeScope();
                var clips = Enumerable.Range(0, Math.Min(options.BatchSize, options.EvalClips - done)).Select(_ => held.Next()).ToList();
                Loss(encoder, heads, features, clips, out var stats);
                for (int i = 0; i < 4; i++) { correct[i] += stats[i].Correct; totals[i] += stats[i].Total; }
            }
        }
        WhisperFolder.Write(outputDirectory, encoder, AudioCurriculum.Features);
        return new AudioPretrainResult(correct[0] / totals[0], correct[1] / totals[1], correct[2] / totals[2], correct[3] / totals[3], run.FinalLoss, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Log-mel features of clips as the plugin computes them from their 16-bit WAV files, [B, mels, frames].</summary>
    internal static Tensor Features(WhisperFeatureExtractor extractor, IReadOnlyList<AudioScene> clips)
    {
        using var scope = NewDisposeScope();
        var rate = extractor.Config.SamplingRate;
        var windows = clips.Select(c =>
        {
            // Rounded to 16 bits as the WAV files are, so pretraining sees what the plugin will read.
            var x = c.Render(rate, AudioCurriculum.ClipSeconds).Select(v => MathF.Round(v * 32767f) / 32768f).ToArray();
            return extractor.Extract(x);
        }).ToList();
        return cat(windows, 0).MoveToOuterDisposeScope();
    }

    static Tensor Loss(WhisperEncoder encoder, Heads heads, WhisperFeatureExtractor extractor, List<AudioScene> clips, out (double Correct, double Total)[] stats)
    {
        using var scope = NewDisposeScope();
        var output = encoder.Forward(Features(extractor, clips));       // [B, tokens, d]
        int tokens = (int)output.shape[1];
        var tokenLabels = tensor(clips.SelectMany(c => TokenLabels(c, tokens)).ToArray());
        var onsetLabels = tensor(clips.SelectMany(c => OnsetLabels(c, tokens)).ToArray());
        var counts = tensor(clips.Select(c => (long)c.Beeps - 1).ToArray());
        var rhythm = tensor(clips.Select(c => c.Fast ? 1L : 0L).ToArray());
        var noise = tensor(clips.Select(c => c.Noise ? 1L : 0L).ToArray());
        var mean = output.mean([1]);
        var tokenLogits = heads.token.forward(output).reshape(-1, 7);
        var countLogits = heads.count.forward(mean);
        var rhythmLogits = heads.rhythm.forward(mean);
        var noiseLogits = heads.noise.forward(mean);
        var onsetLogits = heads.onset.forward(output).reshape(-1, 2);
        var loss = nn.functional.cross_entropy(tokenLogits, tokenLabels)
            .Plus(nn.functional.cross_entropy(onsetLogits, onsetLabels))
            .Plus(nn.functional.cross_entropy(countLogits, counts))
            .Plus(nn.functional.cross_entropy(rhythmLogits, rhythm))
            .Plus(nn.functional.cross_entropy(noiseLogits, noise));
        static (double, double) Hits(Tensor logits, Tensor labels) => (logits.argmax(-1).eq(labels).sum().item<long>(), labels.shape[0]);
        stats = [Hits(tokenLogits, tokenLabels), Hits(countLogits, counts), Hits(rhythmLogits, rhythm), Hits(noiseLogits, noise)];
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>Per output token: 1 where a beep starts inside its span. The mean of such a feature over the tokens is proportional to the count, which a linear count head on the mean token can then read.</summary>
    internal static IEnumerable<long> OnsetLabels(AudioScene clip, int tokens)
    {
        double span = (double)AudioCurriculum.ClipSeconds / tokens;
        for (int t = 0; t < tokens; t++)
            yield return clip.Events.Any(e => e.Start >= t * span && e.Start < (t + 1) * span) ? 1 : 0;
    }

    /// <summary>Per output token: 0 when no beep covers most of its span, else 1 + register × 2 + (chord ? 1 : 0).</summary>
    internal static IEnumerable<long> TokenLabels(AudioScene clip, int tokens)
    {
        double span = (double)AudioCurriculum.ClipSeconds / tokens;
        for (int t = 0; t < tokens; t++)
        {
            double from = t * span, to = from + span;
            double covered = clip.Events.Sum(e => Math.Max(0, Math.Min(to, e.Start + e.Length) - Math.Max(from, e.Start)));
            yield return covered >= span / 2 ? 1 + (int)clip.Pitch * 2 + (clip.Chord ? 1 : 0) : 0;
        }
    }
}
