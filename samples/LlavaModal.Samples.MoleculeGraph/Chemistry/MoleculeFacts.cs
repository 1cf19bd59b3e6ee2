namespace LlavaModal.Samples.MoleculeGraph.Chemistry;

/// <summary>
/// What the curriculum asks about a molecule, computed from its graph. Definitions (simple and documented, not a chemistry
/// toolkit's perception): rings = bonds − atoms + 1 (the cycle rank of a connected graph, what SMILES ring closures add);
/// a hydroxyl is an O with exactly one bond, a single bond to a C; a carbonyl is a C=O double bond; an amine is an N whose
/// bonds are all single, bonded to at least one C, none of its C neighbours being a carbonyl carbon (so amides do not count).
/// </summary>
/// <param name="Counts">Atoms per element.</param>
/// <param name="Rings">Independent rings.</param>
/// <param name="Hydroxyl">A hydroxyl group is present.</param>
/// <param name="Carbonyl">A carbonyl group is present.</param>
/// <param name="Amine">An amine group is present.</param>
public sealed record MoleculeFacts(IReadOnlyDictionary<Element, int> Counts, int Rings, bool Hydroxyl, bool Carbonyl, bool Amine)
{
    /// <summary>Halogen atoms (F, Cl, Br, I) together.</summary>
    public int Halogens => Counts.Where(kv => Elements.IsHalogen(kv.Key)).Sum(kv => kv.Value);

    /// <summary>Heavy atoms.</summary>
    public int Atoms => Counts.Values.Sum();

    /// <summary>The facts of <paramref name="m"/>.</summary>
    public static MoleculeFacts Of(Molecule m)
    {
        ArgumentNullException.ThrowIfNull(m);
        var counts = Enum.GetValues<Element>().ToDictionary(e => e, e => m.Atoms.Count(a => a == e));
        bool IsCarbonylCarbon(int i) => m.Atoms[i] == Element.C && m.Neighbors(i).Any(j => m.Atoms[j] == Element.O && m.Order(i, j) == 2);
        bool hydroxyl = false, amine = false;
        for (int i = 0; i < m.Atoms.Count; i++)
        {
            var neighbors = m.Neighbors(i).ToList();
            if (m.Atoms[i] == Element.O && neighbors.Count == 1 && m.Atoms[neighbors[0]] == Element.C && m.Order(i, neighbors[0]) == 1) hydroxyl = true;
            if (m.Atoms[i] == Element.N && neighbors.All(j => m.Order(i, j) == 1) && neighbors.Any(j => m.Atoms[j] == Element.C) && !neighbors.Any(IsCarbonylCarbon)) amine = true;
        }
        bool carbonyl = m.Bonds.Any(b => b.Order == 2 && ((m.Atoms[b.A], m.Atoms[b.B]) is (Element.C, Element.O) or (Element.O, Element.C)));
        return new MoleculeFacts(counts, m.Bonds.Count - m.Atoms.Count + 1, hydroxyl, carbonyl, amine);
    }
}
