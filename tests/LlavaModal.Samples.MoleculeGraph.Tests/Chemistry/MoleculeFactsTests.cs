using LlavaModal.Samples.MoleculeGraph.Chemistry;
using LlavaModal.Samples.MoleculeGraph.Curriculum;
using LlavaModal.Samples.MoleculeGraph.Smiles;

namespace LlavaModal.Samples.MoleculeGraph.Tests.Chemistry;

public class MoleculeFactsTests
{
    [Theory]
    // smiles, C, N, O, S, halogens, rings, hydroxyl, carbonyl, amine
    [InlineData("CCO", 2, 0, 1, 0, 0, 0, true, false, false)]               // ethanol
    [InlineData("CC(=O)C", 3, 0, 1, 0, 0, 0, false, true, false)]           // acetone
    [InlineData("CC(=O)O", 2, 0, 2, 0, 0, 0, true, true, false)]            // acetic acid: its OH counts as a hydroxyl here
    [InlineData("CN", 1, 1, 0, 0, 0, 0, false, false, true)]                // methylamine
    [InlineData("CC(=O)N", 2, 1, 1, 0, 0, 0, false, true, false)]           // acetamide: an amide, not an amine
    [InlineData("C1CCCCC1O", 6, 0, 1, 0, 0, 1, true, false, false)]         // cyclohexanol
    [InlineData("C1=CC2=CC=CC=C2C=C1", 10, 0, 0, 0, 0, 2, false, false, false)] // naphthalene (Kekulé)
    [InlineData("COC", 2, 0, 1, 0, 0, 0, false, false, false)]              // an ether O has two bonds: no hydroxyl
    [InlineData("C=N", 1, 1, 0, 0, 0, 0, false, false, false)]              // an imine: N with a double bond
    [InlineData("ClC(Cl)Cl", 1, 0, 0, 0, 3, 0, false, false, false)]        // chloroform
    [InlineData("CSC1CC1Br", 4, 0, 0, 1, 1, 1, false, false, false)]
    [InlineData("C12C3C1C23", 4, 0, 0, 0, 0, 3, false, false, false)]      // three independent rings
    public void Facts_follow_the_documented_definitions(string smiles, int c, int n, int o, int s, int halogens, int rings, bool hydroxyl, bool carbonyl, bool amine)
    {
        var f = MoleculeFacts.Of(SmilesParser.Parse(smiles));
        Assert.Equal((c, n, o, s, halogens, rings, hydroxyl, carbonyl, amine),
            (f.Counts[Element.C], f.Counts[Element.N], f.Counts[Element.O], f.Counts[Element.S], f.Halogens, f.Rings, f.Hydroxyl, f.Carbonyl, f.Amine));
    }

    [Fact]
    public void Generated_molecules_cover_every_answer_the_curriculum_asks()
    {
        var generator = new MoleculeGenerator(3);
        var facts = Enumerable.Range(0, 3000).Select(_ => MoleculeFacts.Of(generator.Next())).ToList();
        Assert.All(facts, f => Assert.InRange(f.Atoms, 1, MoleculeGenerator.MaxAtoms));
        // Each group present in 30-70% of molecules, so "absent" is no safe guess.
        foreach (var share in new[] { facts.Average(f => f.Hydroxyl ? 1.0 : 0), facts.Average(f => f.Carbonyl ? 1.0 : 0), facts.Average(f => f.Amine ? 1.0 : 0) })
            Assert.InRange(share, 0.3, 0.7);
        Assert.Equal([0, 1, 2, 3], facts.Select(f => f.Rings).Distinct().Order());
        Assert.True(facts.Select(f => f.Counts[Element.C]).Distinct().Count() >= 8);
        Assert.Contains(facts, f => f.Counts[Element.S] > 0);
        Assert.Equal([0, 1, 2], facts.Select(f => f.Halogens).Distinct().Order());
    }

    [Fact]
    public void Answers_name_what_is_asked_before_the_value()
    {
        var f = MoleculeFacts.Of(SmilesParser.Parse("CC(=O)N"));
        Assert.Equal("The carbon count is 2.", GraphCurriculum.Ask(GraphQuestionType.Carbon, f).Answer);
        Assert.Equal("The ring count is 0.", GraphCurriculum.Ask(GraphQuestionType.Rings, f).Answer);
        Assert.Equal("A carbonyl group is present.", GraphCurriculum.Ask(GraphQuestionType.Carbonyl, f).Answer);
        Assert.Equal("An amine group is absent.", GraphCurriculum.Ask(GraphQuestionType.Amine, f).Answer);
        Assert.Equal("How many carbon atoms are there?", GraphCurriculum.Ask(GraphQuestionType.Carbon, f).Text);
    }
}
