using System.Globalization;
using System.Text;
using LlavaModal.Samples.MoleculeGraph.Chemistry;

namespace LlavaModal.Samples.MoleculeGraph.Smiles;

/// <summary>
/// Writes a molecule as SMILES in the subset <see cref="SmilesParser"/> reads: a depth-first walk, bonds that close a
/// cycle written as ring-closure digits (<c>%nn</c> past 9), branches for all but the last neighbour. With a
/// <see cref="Random"/>, the start atom and the order of neighbours are drawn, so one molecule has many spellings.
/// </summary>
public static class SmilesWriter
{
    /// <summary>The SMILES of <paramref name="m"/>; random spelling when <paramref name="random"/> is given.</summary>
    public static string Write(Molecule m, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(m);
        int n = m.Atoms.Count;
        int start = random?.Next(n) ?? 0;
        // First pass: the DFS tree; every other bond becomes a ring closure opened at its earlier-visited atom.
        var visited = new bool[n];
        var order = new List<int>();
        var children = new List<int>[n];
        var treeEdge = new HashSet<(int, int)>();
        void Visit(int a)
        {
            visited[a] = true;
            order.Add(a);
            children[a] = [];
            var next = m.Neighbors(a).ToList();
            if (random is not null) random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(next));
            foreach (var b in next)
            {
                if (visited[b]) continue;
                treeEdge.Add((Math.Min(a, b), Math.Max(a, b)));
                children[a].Add(b);
                Visit(b);
            }
        }
        Visit(start);
        var rank = new int[n];
        for (int k = 0; k < order.Count; k++) rank[order[k]] = k;
        var closures = new List<(int Atom, int Other)>[n];
        for (int a = 0; a < n; a++) closures[a] = [];
        foreach (var b in m.Bonds)
        {
            if (treeEdge.Contains((Math.Min(b.A, b.B), Math.Max(b.A, b.B)))) continue;
            closures[b.A].Add((b.A, b.B));
            closures[b.B].Add((b.B, b.A));
        }
        var sb = new StringBuilder();
        var labels = new Dictionary<(int, int), int>();
        var free = new SortedSet<int>(Enumerable.Range(1, 99));
        void Emit(int a)
        {
            sb.Append(Elements.Symbol(m.Atoms[a]));
            foreach (var (atom, other) in closures[a].OrderBy(c => rank[c.Other]))
            {
                var key = (Math.Min(atom, other), Math.Max(atom, other));
                if (labels.Remove(key, out int label)) free.Add(label);
                else
                {
                    label = free.Min;
                    free.Remove(label);
                    labels[key] = label;
                    sb.Append(BondSymbol(m.Order(atom, other)));
                }
                sb.Append(label < 10 ? label.ToString(CultureInfo.InvariantCulture) : "%" + label.ToString(CultureInfo.InvariantCulture));
            }
            var kids = children[a];
            for (int k = 0; k < kids.Count; k++)
            {
                bool branch = k < kids.Count - 1;
                if (branch) sb.Append('(');
                sb.Append(BondSymbol(m.Order(a, kids[k])));
                Emit(kids[k]);
                if (branch) sb.Append(')');
            }
        }
        Emit(start);
        return sb.ToString();
    }

    static string BondSymbol(int order) => order switch { 2 => "=", 3 => "#", _ => "" };
}
