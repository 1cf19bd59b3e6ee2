using LlavaModal.Samples.MoleculeGraph.Chemistry;
using LlavaModal.Samples.MoleculeGraph.Curriculum;
using LlavaModal.Samples.MoleculeGraph.Gin;
using LlavaModal.Samples.MoleculeGraph.Smiles;
using static TorchSharp.torch;

namespace LlavaModal.Samples.MoleculeGraph.Tests.Gin;

public class GinEncoderTests
{
    static Tensor Tokens(GinEncoder gin, Molecule m)
    {
        var (atoms, bonds, mask) = MoleculeTensors.Unpack(MoleculeTensors.Of(m));
        using var _ = no_grad();
        return gin.Tokens(atoms, bonds, mask).squeeze(0);
    }

    static Tensor Atoms(Tensor tokens) => tokens.narrow(0, 1, tokens.shape[0] - 1);

    /// <summary>A graph encoder sees the graph, not its spelling: every SMILES of a molecule gives the same readout and the same atom tokens (in another order).</summary>
    [Fact]
    public void Every_spelling_of_a_molecule_encodes_the_same()
    {
        manual_seed(3);
        using var gin = new GinEncoder(new GinConfig(16, 3));
        var generator = new MoleculeGenerator(8);
        var random = new Random(9);
        for (int i = 0; i < 30; i++)
        {
            var m = generator.Next();
            using var a = Tokens(gin, SmilesParser.Parse(SmilesWriter.Write(m, random)));
            using var b = Tokens(gin, SmilesParser.Parse(SmilesWriter.Write(m, random)));
            Assert.True(a.select(0, 0).allclose(b.select(0, 0), rtol: 1e-4, atol: 1e-4), $"readout differs for {SmilesWriter.Write(m)}");
            using var sortedA = Atoms(a).sum(dim: 1).sort().Values;
            using var sortedB = Atoms(b).sum(dim: 1).sort().Values;
            Assert.True(sortedA.allclose(sortedB, rtol: 1e-4, atol: 1e-4));
            using var sum = Atoms(a).sum(dim: 0);
            Assert.True(a.select(0, 0).allclose(sum, rtol: 1e-4, atol: 1e-4), "the readout is the sum of the atom tokens");
        }
        // And the encoder is not blind: different molecules differ.
        using var x = Tokens(gin, SmilesParser.Parse("CCO"));
        using var y = Tokens(gin, SmilesParser.Parse("CC=O"));
        Assert.False(x.select(0, 0).allclose(y.select(0, 0), rtol: 1e-3, atol: 1e-3));
    }

    [Fact]
    public void A_padded_batch_encodes_each_molecule_as_alone()
    {
        manual_seed(4);
        using var gin = new GinEncoder(new GinConfig(16, 2));
        Molecule[] molecules = [SmilesParser.Parse("C1CC1O"), SmilesParser.Parse("CC(=O)NCCCl")];
        var (atoms, bonds, mask) = MoleculeTensors.Batch(molecules);
        using var _ = no_grad();
        using var batch = gin.Tokens(atoms, bonds, mask);
        foreach (var (m, k) in molecules.Select((m, k) => (m, k)))
        {
            using var alone = Tokens(gin, m);
            Assert.True(batch[k].narrow(0, 0, m.Atoms.Count + 1).allclose(alone, rtol: 1e-5, atol: 1e-5));
        }
    }

    [Fact]
    public void Prepared_input_is_the_atoms_and_their_bond_matrix()
    {
        using var values = MoleculeTensors.Of(SmilesParser.Parse("C=O"));
        Assert.Equal(new long[] { 2, 3 }, values.shape);
        Assert.Equal(new long[] { (long)Element.C, 0, 2, (long)Element.O, 2, 0 }, values.data<long>().ToArray());
    }
}
