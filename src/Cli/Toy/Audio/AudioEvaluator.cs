using System.Diagnostics;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Multimodal;
using LlavaModal.Tokenizers.Chat;
using LlavaModal.Training.Evaluation;

namespace LlavaModal.Cli.Toy.Audio;

/// <summary>Exact-match accuracy on fresh clips.</summary>
/// <param name="Overall">Correct answers over all questions.</param>
/// <param name="ByType">Accuracy per question type (<c>count</c>, <c>pitch</c>, <c>sound</c>, <c>rhythm</c>, <c>noise</c>).</param>
/// <param name="ByBeeps">Accuracy per question type and number of beeps in the clip.</param>
/// <param name="Scenes">Clips asked about.</param>
/// <param name="Questions">Questions asked.</param>
/// <param name="Seed">Seed of the clips.</param>
/// <param name="Seconds">Wall time.</param>
/// <param name="Mistakes">A few wrong answers (question, expected, got).</param>
sealed record AudioEvalReport(double Overall, IReadOnlyDictionary<string, double> ByType, IReadOnlyDictionary<string, IReadOnlyDictionary<int, double>> ByBeeps,
    int Scenes, int Questions, int Seed, double Seconds, IReadOnlyList<(string Question, string Expected, string Got)> Mistakes);

/// <summary>
/// The audio curriculum's quality measure, as <see cref="SceneEvaluator"/> is the image one: renders fresh clips from a
/// seed as WAV files, asks every question type in its canonical phrasing as a single-turn chat through the ordinary
/// inference path (the audio plugin reads the WAV bytes; greedy decoding), and compares whole replies (trimmed,
/// lower-cased, final period dropped).
/// </summary>
static class AudioEvaluator
{
    /// <summary>Evaluates a loaded model; <paramref name="answered"/> hears how many questions are answered so far.</summary>
    public static AudioEvalReport Run(MultimodalModel model, int scenes, int seed, int batchSize = 25, Action<long>? answered = null)
    {
        if (scenes < 1) throw new ArgumentException($"--scenes must be at least 1, got {scenes}.");
        if (!model.Modalities.Any(m => m.Modality == "audio"))
            throw new Abstractions.LlavaModalException($"{model.ModelId}: the model has no audio plugin (attach one with `llava-modal attach-audio` and train it).");
        var clock = Stopwatch.StartNew();
        var generator = new AudioSceneGenerator(seed);
        var items = new List<EvalQuestion>();
        for (int i = 0; i < scenes; i++)
        {
            var clip = generator.Next();
            var input = new ModalityInput(AudioCurriculum.WavBytes(clip), "audio/wav", $"clip {i}");
            foreach (var type in Enum.GetValues<AudioQuestionType>())
            {
                var q = AudioCurriculum.Ask(type, clip);
                items.Add(new(type.ToString().ToLowerInvariant(), clip.Beeps, model.RenderChat([new ChatTurn(TurnRole.User, q.Text)], [input]), q.Text, q.Answer));
            }
        }
        var result = ExactMatch.Run(model, items, maxNewTokens: 24, batchSize, answered);
        return new AudioEvalReport(result.Overall, result.ByType, result.ByGroup, scenes, items.Count, seed, clock.Elapsed.TotalSeconds, result.Mistakes);
    }
}
