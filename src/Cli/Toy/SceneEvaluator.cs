using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Decoder.Generation;
using LlavaModal.Encoders.Vision.Clip;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tokenizers.Chat;

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
        var items = new List<(QuestionType Type, int Objects, MultimodalPrompt Prompt, string Question, string Answer)>();
        for (int i = 0; i < scenes; i++)
        {
            var scene = generator.Next();
            var image = new ModalityInput(Curriculum.PngBytes(scene.Render()), "image/png", $"scene {i}");
            foreach (var type in Enum.GetValues<QuestionType>())
            {
                var q = Curriculum.Ask(type, scene, random);
                items.Add((type, scene.Objects.Count, model.RenderChat([new ChatTurn(TurnRole.User, q.Text)], [image]), q.Text, q.Answer));
            }
        }
        var options = new GenerationOptions { MaxNewTokens = 16 };
        var correct = new Dictionary<(QuestionType, int), int>();
        var total = new Dictionary<(QuestionType, int), int>();
        var mistakes = new List<(string, string, string)>();
        for (int i = 0; i < items.Count; i += batchSize)
        {
            var chunk = items.Skip(i).Take(batchSize).ToList();
            var results = model.GenerateBatch(chunk.Select(c => c.Prompt).ToList(), options);
            for (int k = 0; k < chunk.Count; k++)
            {
                var got = Normalize(results[k].Text);
                var c = chunk[k];
                var key = (c.Type, c.Objects);
                total[key] = total.GetValueOrDefault(key) + 1;
                if (got == Normalize(c.Answer)) correct[key] = correct.GetValueOrDefault(key) + 1;
                else if (mistakes.Count < 10) mistakes.Add((c.Question, c.Answer, got));
            }
            answered?.Invoke(i + chunk.Count);
        }
        static string Name(QuestionType t) => t.ToString().ToLowerInvariant();
        var byType = Enum.GetValues<QuestionType>().ToDictionary(Name,
            t => (double)correct.Where(kv => kv.Key.Item1 == t).Sum(kv => kv.Value) / total.Where(kv => kv.Key.Item1 == t).Sum(kv => kv.Value));
        var byObjects = Enum.GetValues<QuestionType>().ToDictionary(Name, t => (IReadOnlyDictionary<int, double>)total.Keys.Where(k => k.Item1 == t).OrderBy(k => k.Item2)
            .ToDictionary(k => k.Item2, k => (double)correct.GetValueOrDefault(k) / total[k]));
        return new EvalReport((double)correct.Values.Sum() / items.Count, byType, scenes, items.Count, seed, clock.Elapsed.TotalSeconds, mistakes, byObjects);
    }

    /// <summary>The comparison form of a reply.</summary>
    public static string Normalize(string reply) => reply.Trim().TrimEnd('.').Trim().ToLowerInvariant();
}
