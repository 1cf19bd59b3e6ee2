using System.Diagnostics;
using System.Text;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Multimodal;
using LlavaModal.Samples.MoleculeGraph.Chemistry;
using LlavaModal.Samples.MoleculeGraph.Plugin;
using LlavaModal.Samples.MoleculeGraph.Smiles;
using LlavaModal.Tokenizers.Chat;
using LlavaModal.Training.Evaluation;

namespace LlavaModal.Samples.MoleculeGraph.Curriculum;

/// <summary>Exact-match accuracy on fresh molecules.</summary>
/// <param name="Overall">Correct answers over all questions.</param>
/// <param name="ByType">Accuracy per question type (<c>rings</c>, <c>carbon</c>, ..., <c>amine</c>).</param>
/// <param name="ByRings">Accuracy per question type and number of rings in the molecule.</param>
/// <param name="Scenes">Molecules asked about.</param>
/// <param name="Questions">Questions asked.</param>
/// <param name="Seed">Seed of the molecules.</param>
/// <param name="Seconds">Wall time.</param>
/// <param name="Mistakes">A few wrong answers (SMILES and question, expected, got).</param>
/// <param name="MajorityBaseline">
/// What always giving each question type's most frequent answer (in these molecules) would score: the chance level to
/// beat, higher than uniform guessing because most molecules have no sulfur, few halogens, and so on.
/// </param>
public sealed record GraphEvalReport(double Overall, IReadOnlyDictionary<string, double> ByType, IReadOnlyDictionary<string, IReadOnlyDictionary<int, double>> ByRings,
    int Scenes, int Questions, int Seed, double Seconds, IReadOnlyList<(string Question, string Expected, string Got)> Mistakes, double MajorityBaseline);

/// <summary>
/// The graph curriculum's quality measure, as <c>llava-modal eval</c> is the image one: draws fresh molecules from a seed,
/// writes each as SMILES, asks every question type in its canonical phrasing as a single-turn chat through the ordinary
/// inference path (the plugin parses the SMILES bytes; greedy decoding), and compares whole replies (trimmed,
/// lower-cased, final period dropped).
/// </summary>
public static class GraphEvaluator
{
    /// <summary>Evaluates a loaded model; <paramref name="answered"/> hears how many questions are answered so far.</summary>
    public static GraphEvalReport Run(MultimodalModel model, int scenes, int seed, int batchSize = 32, Action<long>? answered = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (scenes < 1) throw new ArgumentException($"--scenes must be at least 1, got {scenes}.", nameof(scenes));
        if (!model.Modalities.Any(m => m.Modality == MoleculeGraphEncoder.Name))
            throw new LlavaModalException($"{model.ModelId}: the model has no graph plugin (a folder with a graph_config, loaded with MoleculeGraphFactory).");
        var clock = Stopwatch.StartNew();
        var generator = new MoleculeGenerator(seed);
        var spelling = new Random(seed ^ 0x51e5);
        var items = new List<EvalQuestion>();
        for (int i = 0; i < scenes; i++)
        {
            var molecule = generator.Next();
            var facts = MoleculeFacts.Of(molecule);
            var smiles = SmilesWriter.Write(molecule, spelling);
            var input = new ModalityInput(Encoding.ASCII.GetBytes(smiles), GraphMediaTypes.Smiles, smiles);
            foreach (var type in Enum.GetValues<GraphQuestionType>())
            {
                var q = GraphCurriculum.Ask(type, facts);
                items.Add(new(Name(type), facts.Rings, model.RenderChat([new ChatTurn(TurnRole.User, q.Text)], [input]), $"{smiles}: {q.Text}", q.Answer));
            }
        }
        var result = ExactMatch.Run(model, items, maxNewTokens: 32, batchSize, answered);
        return new GraphEvalReport(result.Overall, result.ByType, result.ByGroup, scenes, items.Count, seed, clock.Elapsed.TotalSeconds, result.Mistakes, result.MajorityBaseline);
    }

    /// <summary>The JSON name of a question type.</summary>
    public static string Name(GraphQuestionType type) => type.ToString().ToLowerInvariant();
}
