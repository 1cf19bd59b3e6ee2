using System.Globalization;
using LlavaModal.Samples.MoleculeGraph.Chemistry;
using LlavaModal.Samples.MoleculeGraph.Smiles;
using LlavaModal.Training.Data;

namespace LlavaModal.Samples.MoleculeGraph.Curriculum;

/// <summary>A question type of the graph curriculum.</summary>
public enum GraphQuestionType
{
    /// <summary>"How many rings are there?" → "The ring count is N."</summary>
    Rings,
    /// <summary>"How many carbon atoms are there?" → "The carbon count is N."</summary>
    Carbon,
    /// <summary>Nitrogen atoms.</summary>
    Nitrogen,
    /// <summary>Oxygen atoms.</summary>
    Oxygen,
    /// <summary>Sulfur atoms.</summary>
    Sulfur,
    /// <summary>Halogen atoms (F, Cl, Br, I together).</summary>
    Halogen,
    /// <summary>"Is there a hydroxyl group?" → "A hydroxyl group is present|absent."</summary>
    Hydroxyl,
    /// <summary>A carbonyl group.</summary>
    Carbonyl,
    /// <summary>An amine group.</summary>
    Amine,
}

/// <summary>A question about a molecule with its expected answer.</summary>
public sealed record GraphQuestion(GraphQuestionType Type, string Text, string Answer);

/// <summary>
/// The synthetic graph curriculum: molecules (<see cref="MoleculeGenerator"/>) written as <c>.smi</c> files, captions
/// (stage-1 data) and question/answer conversations (stage-2 data) in LLaVA's JSON with a <c>media</c> list. Answers
/// name what is asked right before the value ("The carbon count is 5.", "A hydroxyl group is present."), the lesson of
/// the image curriculum: the value is predicted next to the words that say what to look for.
/// </summary>
public static class GraphCurriculum
{
    /// <summary>The graph plugin's placeholder.</summary>
    public const string Placeholder = "<graph>";

    static readonly string[][] Phrasings =
    [
        ["How many rings are there?", "Count the rings.", "How many rings does the molecule have?"],
        ["How many carbon atoms are there?", "Count the carbon atoms.", "How many carbons does it have?"],
        ["How many nitrogen atoms are there?", "Count the nitrogen atoms.", "How many nitrogens does it have?"],
        ["How many oxygen atoms are there?", "Count the oxygen atoms.", "How many oxygens does it have?"],
        ["How many sulfur atoms are there?", "Count the sulfur atoms.", "How many sulfurs does it have?"],
        ["How many halogen atoms are there?", "Count the halogen atoms.", "How many halogens does it have?"],
        ["Is there a hydroxyl group?", "Does it have a hydroxyl group?", "Is a hydroxyl group present?"],
        ["Is there a carbonyl group?", "Does it have a carbonyl group?", "Is a carbonyl group present?"],
        ["Is there an amine group?", "Does it have an amine group?", "Is an amine group present?"],
    ];

    static readonly string[] Describe = ["Describe the molecule.", "What is in this molecule?", "Summarise the graph."];

    /// <summary>The canonical phrasing of a question type (what <c>eval</c> asks).</summary>
    public static GraphQuestion Ask(GraphQuestionType type, MoleculeFacts facts) => Ask(type, facts, 0);

    static GraphQuestion Ask(GraphQuestionType type, MoleculeFacts f, int phrasing)
    {
        string Count(string what, int n) => string.Create(CultureInfo.InvariantCulture, $"The {what} count is {n}.");
        string Group(string article, string what, bool present) => $"{article} {what} group is {(present ? "present" : "absent")}.";
        var answer = type switch
        {
            GraphQuestionType.Rings => Count("ring", f.Rings),
            GraphQuestionType.Carbon => Count("carbon", f.Counts[Element.C]),
            GraphQuestionType.Nitrogen => Count("nitrogen", f.Counts[Element.N]),
            GraphQuestionType.Oxygen => Count("oxygen", f.Counts[Element.O]),
            GraphQuestionType.Sulfur => Count("sulfur", f.Counts[Element.S]),
            GraphQuestionType.Halogen => Count("halogen", f.Halogens),
            GraphQuestionType.Hydroxyl => Group("A", "hydroxyl", f.Hydroxyl),
            GraphQuestionType.Carbonyl => Group("A", "carbonyl", f.Carbonyl),
            _ => Group("An", "amine", f.Amine),
        };
        return new GraphQuestion(type, Phrasings[(int)type][phrasing], answer);
    }

    /// <summary>The caption of a molecule: every count and group, in the answers' words.</summary>
    public static string Caption(MoleculeFacts f) => string.Create(CultureInfo.InvariantCulture,
        $"The carbon count is {f.Counts[Element.C]}, the nitrogen count is {f.Counts[Element.N]}, the oxygen count is {f.Counts[Element.O]}, the sulfur count is {f.Counts[Element.S]}, the halogen count is {f.Halogens}, the ring count is {f.Rings}; hydroxyl {Word(f.Hydroxyl)}, carbonyl {Word(f.Carbonyl)}, amine {Word(f.Amine)}.");

    static string Word(bool present) => present ? "present" : "absent";

    /// <summary>What <see cref="Write"/> produced.</summary>
    public sealed record Output(string Stage1Path, string Stage2Path, string MediaFolder, IReadOnlyList<LlavaSample> Stage1, IReadOnlyList<LlavaSample> Stage2, IReadOnlyList<Molecule> Molecules);

    /// <summary>
    /// Generates <paramref name="count"/> molecules from <paramref name="seed"/> and writes <c>graphs/mol-NNNNNN.smi</c>
    /// (a random spelling of each), <c>stage1.json</c> (one caption per molecule) and <c>stage2.json</c> (one conversation
    /// per molecule asking <paramref name="questionsPerMolecule"/> question types in random order and phrasing).
    /// </summary>
    public static Output Write(string directory, int count, int seed, int questionsPerMolecule = 4)
    {
        if (count < 1) throw new ArgumentException($"count must be at least 1, got {count}.", nameof(count));
        Directory.CreateDirectory(Path.Combine(directory, "graphs"));
        var generator = new MoleculeGenerator(seed);
        var random = new Random(seed ^ 0x6a11);
        var stage1 = new List<LlavaSample>();
        var stage2 = new List<LlavaSample>();
        var molecules = new List<Molecule>();
        var types = Enum.GetValues<GraphQuestionType>();
        for (int i = 0; i < count; i++)
        {
            var molecule = generator.Next();
            molecules.Add(molecule);
            var facts = MoleculeFacts.Of(molecule);
            var id = $"mol-{i:D6}";
            var file = $"graphs/{id}.smi";
            File.WriteAllText(Path.Combine(directory, file), SmilesWriter.Write(molecule, random) + "\n");
            LlavaMedia[] media = [new(Plugin.MoleculeGraphEncoder.Name, file)];
            stage1.Add(new LlavaSample(id, null, [new("human", Placeholder + "\n" + Describe[random.Next(Describe.Length)]), new("gpt", Caption(facts))], media));
            var turns = new List<LlavaTurn>();
            foreach (var type in types.OrderBy(_ => random.Next()).Take(questionsPerMolecule))
            {
                var q = Ask(type, facts, random.Next(Phrasings[(int)type].Length));
                turns.Add(new("human", (turns.Count == 0 ? Placeholder + "\n" : "") + q.Text));
                turns.Add(new("gpt", q.Answer));
            }
            stage2.Add(new LlavaSample(id, null, turns, media));
        }
        var s1 = Path.Combine(directory, "stage1.json");
        var s2 = Path.Combine(directory, "stage2.json");
        LlavaDataFile.Save(s1, stage1);
        LlavaDataFile.Save(s2, stage2);
        return new Output(s1, s2, directory, stage1, stage2, molecules);
    }
}
