using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Encoders.Vision.Clip;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Tokenizers.Chat;
using LlavaModal.Training.Evaluation;

namespace LlavaModal.Cli.Toy;

/// <summary>Exact-match accuracy of a model on fresh synthetic scenes.</summary>
/// <param name="Overall">Correct answers over all questions.</param>
/// <param name="ByType">Accuracy per question type (<c>color</c>, <c>shape</c>, <c>count</c>).</param>
/// <param name="Scenes">Scenes asked about.</param>
/// <param name="Questions">Questions asked.</param>
/// <param name="Seed">Seed of the scenes.</param>
/// <param name="Seconds">Wall time.</param>
/// <param name="Mistakes">A few wrong answers (question, expected, got) for inspection.</param>
/// <param name="ByObjects">
/// Accuracy per question type and number of objects in the scene (type → objects → accuracy): separates reading an
/// attribute (one object) from binding it to the object the question names (several).
/// </param>
sealed record EvalReport(double Overall, IReadOnlyDictionary<string, double> ByType, int Scenes, int Questions, int Seed, double Seconds, IReadOnlyList<(string Question, string Expected, string Got)> Mistakes,
    IReadOnlyDictionary<string, IReadOnlyDictionary<int, double>> ByObjects);

/// <summary>
/// The curriculum's quality measure: renders <c>scenes</c> fresh scenes from a seed, asks every question type about each
/// in its canonical phrasing as a single-turn chat through the ordinary inference path (<see cref="MultimodalModel"/>,
/// the default system sentence, greedy decoding), and compares the whole reply with the expected sentence (both
/// trimmed, lower-cased, final period dropped): the attribute and the object it names must both be right.
/// </summary>
static class SceneEvaluator
{
    /// <summary>Loads a LLaVA folder and evaluates it.</summary>
    public static EvalReport Run(string modelDirectory, int scenes, int seed, int batchSize = 24)
    {
        using var model = MultimodalModel.Load(modelDirectory, [new LlavaVisionFactory()]);
        return Run(model, scenes, seed, batchSize);
    }

    /// <summary>Evaluates a loaded model; <paramref name="answered"/> hears how many questions are answered so far (three per scene).</summary>
    public static EvalReport Run(MultimodalModel model, int scenes, int seed, int batchSize = 24, Action<long>? answered = null)
    {
        if (scenes < 1) throw new ArgumentException($"--scenes must be at least 1, got {scenes}.");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var tower = model.Modalities.Select(m => m.Encoder).OfType<LlavaImageEncoder>().FirstOrDefault()?.Tower as ClipVisionModel
            ?? throw new LlavaModalException($"{model.ModelId}: not a toy LLaVA model (a CLIP image encoder).");
        var generator = new SceneGenerator(seed, tower.ImageSize, tower.Config.PatchSize);
        var random = new Random(seed ^ 0x5ca1ab1e);
        var items = new List<EvalQuestion>();
        for (int i = 0; i < scenes; i++)
        {
            var scene = generator.Next();
            var image = new ModalityInput(Curriculum.PngBytes(scene.Render()), "image/png", $"scene {i}");
            foreach (var type in Enum.GetValues<QuestionType>())
            {
                var q = Curriculum.Ask(type, scene, random);
                items.Add(new(type.ToString().ToLowerInvariant(), scene.Objects.Count, model.RenderChat([new ChatTurn(TurnRole.User, q.Text)], [image]), q.Text, q.Answer));
            }
        }
        var result = ExactMatch.Run(model, items, maxNewTokens: 16, batchSize, answered);
        return new EvalReport(result.Overall, result.ByType, scenes, items.Count, seed, clock.Elapsed.TotalSeconds, result.Mistakes, result.ByGroup);
    }
}
