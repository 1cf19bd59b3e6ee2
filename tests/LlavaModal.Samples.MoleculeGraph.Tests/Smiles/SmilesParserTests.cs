using System.Text;
using LlavaModal.Samples.MoleculeGraph.Chemistry;
using LlavaModal.Samples.MoleculeGraph.Curriculum;
using LlavaModal.Samples.MoleculeGraph.Smiles;

namespace LlavaModal.Samples.MoleculeGraph.Tests.Smiles;

public class SmilesParserTests
{
    static string Describe(Molecule m) =>
        string.Join("", m.Atoms.Select(Elements.Symbol)) + "|" + string.Join(",", m.Bonds.Select(b => $"{b.A}-{b.B}:{b.Order}"));

    [Theory]
    [InlineData("CCO", "CCO|0-1:1,1-2:1")]
    [InlineData("CC(=O)O", "CCOO|0-1:1,1-2:2,1-3:1")]
    [InlineData("C1=CC=CC=C1", "CCCCCC|0-1:2,1-2:1,2-3:2,3-4:1,4-5:2,0-5:1")]
    [InlineData("C=1CCCC=1", "CCCCC|1-2:1,2-3:1,3-4:1,0-1:1,0-4:2")]
    [InlineData("C%12CC%12", "CCC|0-1:1,1-2:1,0-2:1")]
    [InlineData("ClC(Br)(F)I", "ClCBrFI|0-1:1,1-2:1,1-3:1,1-4:1")]
    [InlineData("C#N", "CN|0-1:3")]
    [InlineData("OS(=O)(=O)O", "OSOOO|0-1:1,1-2:2,1-3:2,1-4:1")]
    [InlineData("C-C", "CC|0-1:1")]
    [InlineData("  CCO ethanol\n", "CCO|0-1:1,1-2:1")]
    public void Accepted_smiles_become_the_graph_they_spell(string smiles, string expected)
    {
        // Bonds are listed as written: C=1CCCC=1 has its chain first, then the closure.
        var m = SmilesParser.Parse(smiles);
        Assert.Equal(expected.Split('|')[0], Describe(m).Split('|')[0]);
        Assert.Equal(expected.Split('|')[1].Split(',').Order(), Describe(m).Split('|')[1].Split(',').Select(Normalize).Order());
        static string Normalize(string bond)
        {
            var parts = bond.Split(':');
            var ends = parts[0].Split('-').Select(int.Parse).Order().ToArray();
            return $"{ends[0]}-{ends[1]}:{parts[1]}";
        }
    }

    [Theory]
    [InlineData("", null, "empty")]
    [InlineData("C[NH4+]", 2, "bracket atoms")]
    [InlineData("c1ccccc1", 1, "aromatic atom 'c'")]
    [InlineData("CCX", 3, "'X' is not an accepted element")]
    [InlineData("CCP", 3, "phosphorus")]
    [InlineData("CB", 2, "boron")]
    [InlineData("CC.O", 3, "one input is one molecule")]
    [InlineData("C/C=C/C", 2, "stereo bond")]
    [InlineData("C1CC", 2, "ring closure 1 is opened here and never closed")]
    [InlineData("C(CC", 2, "'(' is never closed")]
    [InlineData("CC)C", 3, "')' without a matching '('")]
    [InlineData("C()C", 2, "empty branch")]
    [InlineData("CC=", 3, "ends with a bond")]
    [InlineData("=CC", 1, "no atom before it")]
    [InlineData("C==C", 3, "two bond symbols in a row")]
    [InlineData("C=(O)C", 3, "bond symbol before '('")]
    [InlineData("(C)C", 1, "branch with no atom before it")]
    [InlineData("1CC1", 1, "ring closure 1 has no atom before it")]
    [InlineData("C11", 3, "bond an atom to itself")]
    [InlineData("C1C1", 4, "twice")]
    [InlineData("C=1CC#1", 7, "different bond at each end")]
    [InlineData("C%1CC", 2, "'%' must be followed by two digits")]
    [InlineData("C0CC", 2, "ring closure 0")]
    [InlineData("CO(C)C", 6, "atom 2 (O, character 2) would have 3 bonds' worth of valence; O takes at most 2")]
    [InlineData("FC(F)(F)(F)F", 12, "C takes at most 4")]
    [InlineData("CC#O", 3, "O takes at most 2")]
    [InlineData("C\u0001C", 2, "unexpected character '\\u0001'")]
    [InlineData("CC\nCO", null, "2 lines")]
    public void Bad_smiles_is_a_typed_error_naming_the_character_and_the_problem(string smiles, int? position, string problem)
    {
        var e = Assert.Throws<InvalidSmilesException>(() => SmilesParser.Parse(smiles, "mol.smi"));
        Assert.Equal(position, e.Position);
        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
        Assert.StartsWith("mol.smi: invalid SMILES", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Input_size_is_bounded()
    {
        var tooLong = string.Concat(Enumerable.Repeat("C", SmilesParser.MaxLength + 1));
        Assert.Contains("at most 256", Assert.Throws<InvalidSmilesException>(() => SmilesParser.Parse(tooLong)).Message, StringComparison.Ordinal);
        // 65 atoms fit in 256 characters only with branches: C(C)(C)... is refused at the 65th atom.
        var many = "C" + string.Concat(Enumerable.Repeat("C", SmilesParser.MaxAtoms));
        var e = Assert.Throws<InvalidSmilesException>(() => SmilesParser.Parse(many));
        Assert.Equal(SmilesParser.MaxAtoms + 1, e.Position);
        Assert.Contains($"more than {SmilesParser.MaxAtoms} atoms", e.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidSmilesException>(() => SmilesParser.Parse(new byte[1 << 20], "big"));
        Assert.Contains("not UTF-8", Assert.Throws<InvalidSmilesException>(() => SmilesParser.Parse(new byte[] { 0x43, 0xff, 0x43 }, "bytes")).Message, StringComparison.Ordinal);
    }

    /// <summary>Random spellings of random molecules parse back to the same molecule (atoms in a new order, same facts and bond orders).</summary>
    [Fact]
    public void Written_smiles_parse_back_to_the_same_molecule()
    {
        var generator = new MoleculeGenerator(11);
        var random = new Random(12);
        for (int i = 0; i < 500; i++)
        {
            var m = generator.Next();
            var smiles = SmilesWriter.Write(m, random);
            var back = SmilesParser.Parse(smiles);
            Assert.Equal(m.Atoms.Order(), back.Atoms.Order());
            Assert.Equal(m.Bonds.Select(b => b.Order).Order(), back.Bonds.Select(b => b.Order).Order());
            Assert.Equal(GraphCurriculum.Caption(MoleculeFacts.Of(m)), GraphCurriculum.Caption(MoleculeFacts.Of(back)));
            Assert.Equal(Degrees(m), Degrees(back));
        }
        static string Degrees(Molecule m) => string.Join(",", Enumerable.Range(0, m.Atoms.Count).Select(a => $"{m.Atoms[a]}{m.Valence(a)}").Order());
    }

    /// <summary>Fuzz: mutated and random inputs give a molecule or an <see cref="InvalidSmilesException"/>, nothing else, quickly.</summary>
    [Fact]
    public void Mutated_and_random_input_never_fails_otherwise()
    {
        var random = new Random(5);
        var generator = new MoleculeGenerator(6);
        const string alphabet = "CNOSFIBrlc()[]=#-+.%0123456789/\\: \n@H";
        int accepted = 0;
        for (int i = 0; i < 5000; i++)
        {
            string input;
            if (i % 3 == 0)
            {
                input = new string(Enumerable.Range(0, random.Next(1, 40)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
            }
            else
            {
                var chars = SmilesWriter.Write(generator.Next(), random).ToList();
                for (int k = random.Next(1, 4); k > 0; k--)
                {
                    int at = random.Next(chars.Count + 1);
                    switch (random.Next(3))
                    {
                        case 0: chars.Insert(at, alphabet[random.Next(alphabet.Length)]); break;
                        case 1: if (at < chars.Count) chars.RemoveAt(at); break;
                        default: if (at < chars.Count) chars[at] = alphabet[random.Next(alphabet.Length)]; break;
                    }
                }
                input = new string([.. chars]);
            }
            try
            {
                var m = SmilesParser.Parse(Encoding.UTF8.GetBytes(input), "fuzz");
                accepted++;
                Assert.All(Enumerable.Range(0, m.Atoms.Count), a => Assert.InRange(m.Valence(a), 0, Elements.MaxValence(m.Atoms[a])));
                MoleculeFacts.Of(m);
            }
            catch (InvalidSmilesException e)
            {
                Assert.True(e.Position is null || (e.Position >= 1 && e.Position <= input.Length), $"{input}: {e.Message}");
            }
        }
        Assert.InRange(accepted, 100, 4900);
    }
}
