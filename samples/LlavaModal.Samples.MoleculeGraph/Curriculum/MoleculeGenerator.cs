using LlavaModal.Samples.MoleculeGraph.Chemistry;

namespace LlavaModal.Samples.MoleculeGraph.Curriculum;

/// <summary>
/// Draws random small molecules valid in the SMILES subset, reproducibly from a seed: a skeleton of 1-8 atoms (mostly
/// carbon, some N, O, S in the chain) as a random tree, 0-3 ring-closing bonds (rings of 3-7 atoms), some double and
/// triple bonds, then each of hydroxyl, carbonyl and amine added with probability 1/2 and 0-2 halogens. What the
/// molecule holds is read back from its graph (<see cref="MoleculeFacts"/>), never from these choices.
/// </summary>
public sealed class MoleculeGenerator(int seed)
{
    /// <summary>Most skeleton atoms.</summary>
    public const int MaxSkeleton = 8;

    /// <summary>Most atoms of a generated molecule (skeleton, three groups, two halogens).</summary>
    public const int MaxAtoms = MaxSkeleton + 5;

    readonly Random random = new(seed);

    /// <summary>The next molecule.</summary>
    public Molecule Next()
    {
        var atoms = new List<Element>();
        var order = new Dictionary<(int, int), int>();
        int Valence(int a) => order.Where(kv => kv.Key.Item1 == a || kv.Key.Item2 == a).Sum(kv => kv.Value);
        int Free(int a) => Elements.MaxValence(atoms[a]) - Valence(a);
        bool Bonded(int a, int b) => order.ContainsKey((Math.Min(a, b), Math.Max(a, b)));
        void Bond(int a, int b, int o) => order[(Math.Min(a, b), Math.Max(a, b))] = o;
        int Add(Element e, int to, int o)
        {
            atoms.Add(e);
            Bond(to, atoms.Count - 1, o);
            return atoms.Count - 1;
        }

        // Skeleton: a random tree; sulfur only where it keeps two bonds (S's extra valence is not used here).
        int skeleton = 1 + random.Next(MaxSkeleton);
        atoms.Add(Element.C);
        var parent = new List<int> { -1 };
        for (int i = 1; i < skeleton; i++)
        {
            double r = random.NextDouble();
            var e = r < 0.78 ? Element.C : r < 0.86 ? Element.N : r < 0.94 ? Element.O : Element.S;
            var hosts = Enumerable.Range(0, atoms.Count).Where(a => Free(a) >= 1 && (atoms[a] != Element.S || Valence(a) < 2)).ToList();
            if (hosts.Count == 0) break;
            int host = hosts[random.Next(hosts.Count)];
            Add(e, host, 1);
            parent.Add(host);
        }

        // Rings: close bonds between skeleton atoms 2-6 bonds apart along the tree.
        int rings = random.NextDouble() switch { < 0.3 => 0, < 0.65 => 1, < 0.9 => 2, _ => 3 };
        for (int k = 0; k < rings; k++)
        {
            var pairs = new List<(int, int)>();
            for (int a = 0; a < atoms.Count; a++)
                for (int b = a + 1; b < atoms.Count; b++)
                {
                    int d = TreeDistance(parent, a, b);
                    if (d is >= 2 and <= 6 && !Bonded(a, b) && Free(a) >= 1 && Free(b) >= 1 && Ok(a) && Ok(b)) pairs.Add((a, b));
                }
            if (pairs.Count == 0) break;
            var (x, y) = pairs[random.Next(pairs.Count)];
            Bond(x, y, 1);
        }
        bool Ok(int a) => atoms[a] != Element.S || Valence(a) < 2;

        // Some double and triple bonds between carbons.
        foreach (var key in order.Keys.ToList())
        {
            var (a, b) = key;
            if (atoms[a] != Element.C || atoms[b] != Element.C) continue;
            double r = random.NextDouble();
            int extra = r < 0.15 ? 1 : r < 0.2 ? 2 : 0;
            if (extra > 0 && Free(a) >= extra && Free(b) >= extra) order[key] = 1 + extra;
        }

        // Functional groups and halogens on carbons with room.
        int? Carbon(int need, Func<int, bool>? also = null)
        {
            var c = Enumerable.Range(0, atoms.Count).Where(a => atoms[a] == Element.C && Free(a) >= need && (also?.Invoke(a) ?? true)).ToList();
            return c.Count == 0 ? null : c[random.Next(c.Count)];
        }
        bool IsCarbonylCarbon(int a) => order.Any(kv => kv.Value == 2 && (kv.Key.Item1 == a || kv.Key.Item2 == a) && atoms[kv.Key.Item1 == a ? kv.Key.Item2 : kv.Key.Item1] == Element.O);
        if (random.Next(2) == 0 && Carbon(2) is int carbonyl) Add(Element.O, carbonyl, 2);
        if (random.Next(2) == 0 && Carbon(1) is int hydroxyl) Add(Element.O, hydroxyl, 1);
        if (random.Next(2) == 0 && Carbon(1, a => !IsCarbonylCarbon(a)) is int amine) Add(Element.N, amine, 1);
        int halogens = random.Next(3);
        Element[] kinds = [Element.F, Element.Cl, Element.Br, Element.I];
        for (int k = 0; k < halogens; k++)
            if (Carbon(1) is int h) Add(kinds[random.Next(kinds.Length)], h, 1);

        return new Molecule(atoms, order.Select(kv => new Bond(kv.Key.Item1, kv.Key.Item2, kv.Value)).ToList());
    }

    static int TreeDistance(List<int> parent, int a, int b)
    {
        var up = new Dictionary<int, int>();
        for (int x = a, d = 0; x >= 0; x = parent[x], d++) up[x] = d;
        for (int y = b, d = 0; y >= 0; y = parent[y], d++)
            if (up.TryGetValue(y, out int da)) return da + d;
        return int.MaxValue;
    }
}
