namespace LlavaModal.Samples.MoleculeGraph.Chemistry;

/// <summary>A bond between atoms <paramref name="A"/> and <paramref name="B"/> (indices into <see cref="Molecule.Atoms"/>) of order 1, 2 or 3.</summary>
public readonly record struct Bond(int A, int B, int Order);

/// <summary>A molecule as a graph: heavy atoms (hydrogens are implicit) and the bonds between them; connected, with no two bonds between the same atoms.</summary>
public sealed class Molecule
{
    readonly int[,] orders;

    /// <summary>Builds a molecule; the bonds are checked by the parser or generator that makes it.</summary>
    public Molecule(IReadOnlyList<Element> atoms, IReadOnlyList<Bond> bonds)
    {
        Atoms = atoms;
        Bonds = bonds;
        orders = new int[atoms.Count, atoms.Count];
        foreach (var b in bonds)
        {
            orders[b.A, b.B] = b.Order;
            orders[b.B, b.A] = b.Order;
        }
    }

    /// <summary>The atoms, in SMILES order.</summary>
    public IReadOnlyList<Element> Atoms { get; }

    /// <summary>The bonds.</summary>
    public IReadOnlyList<Bond> Bonds { get; }

    /// <summary>Order of the bond between <paramref name="a"/> and <paramref name="b"/>, 0 when none.</summary>
    public int Order(int a, int b) => orders[a, b];

    /// <summary>The atoms bonded to <paramref name="atom"/>.</summary>
    public IEnumerable<int> Neighbors(int atom)
    {
        for (int j = 0; j < Atoms.Count; j++)
            if (orders[atom, j] > 0) yield return j;
    }

    /// <summary>Bond orders of <paramref name="atom"/> summed.</summary>
    public int Valence(int atom) => Neighbors(atom).Sum(j => orders[atom, j]);
}
