using LlavaModal.Samples.MoleculeGraph.Chemistry;
using LlavaModal.Samples.MoleculeGraph.Curriculum;
using LlavaModal.Samples.MoleculeGraph.Smiles;
using LlavaModal.Training.Data;

namespace LlavaModal.Samples.MoleculeGraph.Tests.Curriculum;

public class GraphCurriculumTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void Synth_writes_smiles_files_and_llava_json_with_a_media_list()
    {
        using var dir = new TempDir();
        var written = GraphCurriculum.Write(dir.Path, 12, 4);
        var stage2 = LlavaDataFile.Load(written.Stage2Path);
        Assert.Equal(12, LlavaDataFile.Load(written.Stage1Path).Count);
        Assert.All(stage2, s =>
        {
            var media = Assert.Single(s.Media!);
            Assert.Equal("graph", media.Modality);
            Assert.Null(s.Image);
            Assert.StartsWith("<graph>\n", s.Conversations[0].Value, StringComparison.Ordinal);
            Assert.Equal(8, s.Conversations.Count);
            SmilesParser.Parse(File.ReadAllText(Path.Combine(dir.Path, media.File)));
        });
    }

    /// <summary>
    /// The shortened graph curriculum CI runs, onto the shipped image toy model through the library's trainer: GIN
    /// pretraining, stage 1 and stage 2 with few steps, then the evaluation through the ordinary inference path on fresh
    /// molecules. Both stages must learn (the losses fall) and the model must read the graph: answers must beat the
    /// majority answer of each question type by 10 points overall, and the ring count (one of the structural questions
    /// the text alone cannot answer) must beat its own majority answer (a run: 73.6% against 47.8%, rings 75%).
    /// </summary>
    [Fact]
    public void The_short_graph_curriculum_learns_to_read_the_graph()
    {
        using var dir = new TempDir();
        TorchSharp.torch.set_num_threads(1);
        var result = GraphRecipe.Run(Shipped.BaseModel, dir.File("work"), dir.File("model"), GraphRecipeOptions.Quick, log: output.WriteLine);
        Assert.True(result.Stage1.FinalLoss < result.Stage1.FirstLoss * 0.8, $"stage 1 loss {result.Stage1.FirstLoss} -> {result.Stage1.FinalLoss}");
        Assert.True(result.Stage2.FinalLoss < result.Stage2.FirstLoss / 20, $"stage 2 loss {result.Stage2.FirstLoss} -> {result.Stage2.FinalLoss}");
        Assert.True(result.Stage2.EvalLoss < result.Stage2.InitialEvalLoss / 20, $"stage 2 held-out loss {result.Stage2.InitialEvalLoss} -> {result.Stage2.EvalLoss}");
        Assert.Equal(GraphRecipeOptions.Quick.EvalScenes * 9, result.Eval.Questions);
        Assert.True(result.Eval.Overall > result.Eval.MajorityBaseline + 0.10, $"overall {result.Eval.Overall:P1} against a majority-answer baseline of {result.Eval.MajorityBaseline:P1}");
        var rings = result.Eval.ByType[GraphEvaluator.Name(GraphQuestionType.Rings)];
        Assert.True(rings > RingMajority(GraphRecipeOptions.Quick.EvalScenes, GraphRecipeOptions.Quick.Seed + 1000) + 0.10, $"rings {rings:P1}");
        Assert.True(File.Exists(Path.Combine(dir.File("model"), "model.safetensors")));
    }

    /// <summary>The share of the evaluation's molecules that have the most common ring count.</summary>
    static double RingMajority(int molecules, int seed)
    {
        var generator = new MoleculeGenerator(seed);
        var rings = Enumerable.Range(0, molecules).Select(_ => MoleculeFacts.Of(generator.Next()).Rings).ToList();
        return (double)rings.GroupBy(r => r).Max(g => g.Count()) / molecules;
    }
}
