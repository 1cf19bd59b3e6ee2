using LlavaModal.Samples.MoleculeGraph.Chemistry;
using static TorchSharp.torch;

namespace LlavaModal.Samples.MoleculeGraph.Gin;

/// <summary>
/// Molecules as the encoder's input. One molecule is an int64 tensor [N, 1 + N] (the plugin's prepared input): column 0
/// holds each atom's id (<see cref="Element"/>'s value), columns 1..N the bond-order matrix (0 none, 1-3).
/// </summary>
public static class MoleculeTensors
{
    /// <summary>The [N, 1 + N] tensor of <paramref name="m"/>.</summary>
    public static Tensor Of(Molecule m)
    {
        ArgumentNullException.ThrowIfNull(m);
        int n = m.Atoms.Count;
        var values = new long[n * (n + 1)];
        for (int i = 0; i < n; i++)
        {
            values[i * (n + 1)] = (long)m.Atoms[i];
            for (int j = 0; j < n; j++) values[i * (n + 1) + 1 + j] = m.Order(i, j);
        }
        return tensor(values, [n, n + 1]);
    }

    /// <summary>Splits a [N, 1 + N] tensor into atom ids [1, N] and bonds [1, N, N], with a mask [1, N] of ones.</summary>
    public static (Tensor Atoms, Tensor Bonds, Tensor Mask) Unpack(Tensor values)
    {
        ArgumentNullException.ThrowIfNull(values);
        long n = values.shape[0];
        if (values.dim() != 2 || values.shape[1] != n + 1) throw new ArgumentException($"a molecule tensor is [N, 1 + N], got [{string.Join(", ", values.shape)}].", nameof(values));
        return (values.select(1, 0).unsqueeze(0), values.narrow(1, 1, n).unsqueeze(0), ones(1, n, dtype: ScalarType.Int64));
    }

    /// <summary>
    /// A padded batch: atom ids [B, N] (atoms listed in <paramref name="masked"/> get <see cref="GinConfig.MaskAtom"/>),
    /// bonds [B, N, N] and mask [B, N], N the largest molecule.
    /// </summary>
    public static (Tensor Atoms, Tensor Bonds, Tensor Mask) Batch(IReadOnlyList<Molecule> molecules, IReadOnlyList<ISet<int>>? masked = null)
    {
        ArgumentNullException.ThrowIfNull(molecules);
        int b = molecules.Count, n = molecules.Max(m => m.Atoms.Count);
        var atoms = new long[b * n];
        var bonds = new long[b * n * n];
        var mask = new long[b * n];
        for (int k = 0; k < b; k++)
        {
            var m = molecules[k];
            for (int i = 0; i < m.Atoms.Count; i++)
            {
                atoms[k * n + i] = masked is not null && masked[k].Contains(i) ? GinConfig.MaskAtom : (long)m.Atoms[i];
                mask[k * n + i] = 1;
                for (int j = 0; j < m.Atoms.Count; j++) bonds[(k * n + i) * n + j] = m.Order(i, j);
            }
        }
        return (tensor(atoms, [b, n]), tensor(bonds, [b, n, n]), tensor(mask, [b, n]));
    }
}
