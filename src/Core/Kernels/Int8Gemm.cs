namespace LlavaModal.Core.Kernels;

/// <summary>
/// Products of many tokens (prefill) with int8 rows in integers, as the one-token kernels do: the activations rounded to
/// int8 per block (<see cref="QuantizedActivations"/>) and widened to int16 once per slice, the weights widened and
/// repacked a panel of rows at a time (16 on AVX-512 BW, 8 on AVX2: the int32 lanes of a vector) so that one vector
/// holds two consecutive columns of each row. A token's two values broadcast to all lanes meet them in one
/// <c>vpmaddwd</c>: lane r gets row r's two products, summed; a block's 16 such steps add in int32 (at most
/// 32 · 127² = 516,128) and are scaled by the row's and the token's block scales. Two multiply-adds per int32 lane an
/// instruction, where the f32 tiled product (<see cref="Gemm"/>) spends one FMA per f32 lane; on Zen 4, which issues
/// 512-bit FMAs twice as often, that is the FMA peak again, and the 10-25% gained from 128 tokens (README, "How int8
/// and int4 multiply") is the panels: bytes widened, not blocks decoded to floats. No overflow: <c>vpmaddubsw</c>,
/// which int4 uses (<see cref="Int4Gemm"/>), would saturate on int8 × int8, and .NET 10 offers 512-bit VNNI only
/// through AVX10.
/// </summary>
/// <remarks>Written by hand: libtorch has no product for these block formats.</remarks>
static unsafe class Int8Gemm
{
    const int Block = WeightFormats.BlockSize;

    /// <summary>Whether this product serves <paramref name="weights"/> on <paramref name="isa"/>: int8 rows of whole blocks, AVX-512 BW or AVX2.</summary>
    internal static bool Serves(PackedMatrix weights, KernelIsa isa) =>
        isa != KernelIsa.Scalar && KernelIsas.IsSupported(isa) && weights.Format == WeightFormat.Int8 && weights.Columns % Block == 0;

    /// <summary>Computes <paramref name="y"/> [tokens, rows] from <paramref name="x"/> [tokens, columns] on <paramref name="isa"/>'s tile.</summary>
    /// <exception cref="ArgumentException">A matrix or instruction set this product does not serve (see <see cref="Serves"/>).</exception>
    internal static void Multiply(PackedMatrix weights, float* x, int tokens, float* y, KernelIsa isa, KernelPool pool)
    {
        if (!Serves(weights, isa)) throw new ArgumentException($"The int8 integer product needs int8 rows of whole {Block}-column blocks and AVX-512 BW or AVX2; got {weights.Format.Name()} rows of {weights.Columns} on {isa}{(KernelIsas.IsSupported(isa) ? "" : " (not supported here)")}.", nameof(weights));
        IntegerPanels.Multiply<Avx512Int8Tile, Avx2Int8Tile>(weights, x, tokens, y, isa, pool, widen: true);
    }
}
