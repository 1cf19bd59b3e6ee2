namespace LlavaModal.Core.Kernels;

/// <summary>
/// Products of many tokens (prefill) with int4 rows in integers, as the one-token kernels do: the activations rounded to
/// int8 per block (<see cref="QuantizedActivations"/>), the weights repacked a panel of rows at a time (16 on AVX-512, 8
/// on AVX2: the int32 lanes of a vector) so that one load holds four consecutive values (the stored nibbles,
/// <c>w + 8</c>, 0-15) of each row. A token's four bytes broadcast to all lanes meet them in one <c>vpmaddubsw</c>: lane
/// pair 2r, 2r + 1 holds two products each of row r. A block's eight such steps are added in int16 (at most
/// 8 · 2 · 15 · 127 = 30,480, so nothing saturates), one <c>vpmaddwd</c> makes lane r row r's block sum, which starts
/// from <c>-8 · Σq</c> (the nibbles' offset) and is scaled by the row's and the token's block scales. No horizontal
/// adds, and four multiply-adds per instruction lane where the f32 tiled product (<see cref="Gemm"/>) spends one FMA
/// lane each.
/// </summary>
/// <remarks>
/// Written by hand: libtorch has no product for these block formats. int4 only: int8 weights times int8 activations
/// overflow <c>vpmaddubsw</c>'s int16 pairs, and the sign fixes that avoid it cost what the f32 FMAs cost; and .NET 10
/// offers 512-bit VNNI only through AVX10 (README, Performance).
/// </remarks>
static unsafe class Int4Gemm
{
    const int Block = WeightFormats.BlockSize;

    /// <summary>Whether this product serves <paramref name="weights"/> on <paramref name="isa"/>: int4 rows of whole blocks, AVX-512 BW or AVX2.</summary>
    internal static bool Serves(PackedMatrix weights, KernelIsa isa) =>
        isa != KernelIsa.Scalar && KernelIsas.IsSupported(isa) && weights.Format == WeightFormat.Int4 && weights.Columns % Block == 0;

    /// <summary>Computes <paramref name="y"/> [tokens, rows] from <paramref name="x"/> [tokens, columns] on <paramref name="isa"/>'s tile.</summary>
    /// <exception cref="ArgumentException">A matrix or instruction set this product does not serve (see <see cref="Serves"/>).</exception>
    internal static void Multiply(PackedMatrix weights, float* x, int tokens, float* y, KernelIsa isa, KernelPool pool)
    {
        if (!Serves(weights, isa)) throw new ArgumentException($"The int4 integer product needs int4 rows of whole {Block}-column blocks and AVX-512 BW or AVX2; got {weights.Format.Name()} rows of {weights.Columns} on {isa}{(KernelIsas.IsSupported(isa) ? "" : " (not supported here)")}.", nameof(weights));
        IntegerPanels.Multiply<Avx512Int4Tile, Avx2Int4Tile>(weights, x, tokens, y, isa, pool, widen: false);
    }
}
