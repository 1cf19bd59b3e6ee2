using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlavaModal.Core.Kernels;

/// <summary>
/// One activation row rounded to int8 (<see cref="QuantizedActivations"/>): its values, block scales and int4 offset
/// terms; the scales, offsets and biases may be read up to 16 past the last block. <see cref="Halves"/> holds the values
/// regrouped for int4 rows, <see cref="Biases"/> <c>-128 · Σq</c> per block for int8 rows, <see cref="Wide"/> the values
/// widened to int16 for <see cref="Int8Gemm"/>.
/// </summary>
readonly unsafe struct QuantizedRow(sbyte* values, float* scales, float* offsets, sbyte* halves, int* biases, short* wide)
{
    public sbyte* Values { get; } = values;
    public float* Scales { get; } = scales;
    public float* Offsets { get; } = offsets;
    public sbyte* Halves { get; } = halves;
    public int* Biases { get; } = biases;
    /// <summary>The values as int16, for the int8 prompt product: only after <see cref="QuantizedActivations.Widen"/>.</summary>
    public short* Wide { get; } = wide;
}

/// <summary>
/// Integer dot products of one int8 or int4 row with <see cref="QuantizedActivations"/>: per block of 32, the products
/// of the stored integers summed exactly in int32, scaled by the row's f16 block scale times the activations' block
/// scale, and summed in f32. Int4 rows multiply their stored nibbles (0-15) and subtract the activations' offset term
/// (<c>8 · d · Σq</c>) times the row's scale, which is the same as multiplying <c>nibble - 8</c>.
/// </summary>
/// <remarks>Written by hand: neither TorchSharp nor System.Numerics.Tensors has an int8 x int8 product with per-block
/// scales. The row's scales are read 16 (AVX-512) or 8 (AVX2) at a time, so rows never convert f16 one by one.</remarks>
unsafe interface IIntegerDots
{
    static abstract float Dot1(byte* row, Half* scales, QuantizedRow x, int blocks);
    /// <summary>Four activation rows at once: the weight row is read and decoded once for all four.</summary>
    static abstract void Dot4(byte* row, Half* scales, QuantizedRow x0, QuantizedRow x1, QuantizedRow x2, QuantizedRow x3, int blocks, float* result);
    /// <summary>
    /// Four stored rows (<paramref name="rowBytes"/> apart, their scales <paramref name="blocks"/> apart) with one activation
    /// row, each sum exactly <see cref="Dot1"/>'s, so how rows are grouped or split among threads never changes a result.
    /// </summary>
    static abstract void Rows4(byte* row, long rowBytes, Half* scales, QuantizedRow x, int blocks, float* result);
}

/// <summary><see cref="IIntegerDots.Rows4"/> as four <see cref="IIntegerDots.Dot1"/> calls, for the paths with no four-row kernel.</summary>
static unsafe class RowsOneByOne
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Rows4<TDots>(byte* row, long rowBytes, Half* scales, QuantizedRow x, int blocks, float* result) where TDots : struct, IIntegerDots
    {
        for (int k = 0; k < 4; k++) result[k] = TDots.Dot1(row + k * rowBytes, scales + k * blocks, x, blocks);
    }
}

/// <summary>A row's f16 block scales widened to f32 8 or 16 at a time (what lies past the row's last block is read too, never used).</summary>
static unsafe class IntegerScales
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Eight(Half* scales) => F16Block.Widen(Vector128.Load((ushort*)scales));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Sixteen(Half* scales) => F16Block.Widen(Vector256.Load((ushort*)scales));
}

/// <summary>Sums of four adjacent u8 x s8 products into int32 lanes: VNNI's one instruction, or two without it.</summary>
interface IBytePairs
{
    static abstract Vector256<int> Sum(Vector256<byte> unsigned, Vector256<sbyte> signed);
}

readonly struct VnniPairs : IBytePairs
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Sum(Vector256<byte> unsigned, Vector256<sbyte> signed) => AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, unsigned, signed);
}

/// <summary>u8 x s8 pairs to int16 (no saturation: one side is at most 127 in magnitude, the other at most 127 or 15), then pairs of those to int32.</summary>
readonly struct MaddPairs : IBytePairs
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Sum(Vector256<byte> unsigned, Vector256<sbyte> signed) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(unsigned, signed), Vector256.Create((short)1));
}

/// <summary>Plain C#: the reference the vector paths are tested against.</summary>
unsafe readonly struct ScalarIntegerDots<TRow> : IIntegerDots where TRow : struct, IIntegerRow
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot1(byte* row, Half* scales, QuantizedRow x, int blocks)
    {
        float sum = 0;
        for (int b = 0; b < blocks; b++)
        {
            float scale = (float)scales[b];
            sum += scale * x.Scales[b] * TRow.Block(row, x.Values, b);
            if (TRow.Offset) sum -= scale * x.Offsets[b];
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot4(byte* row, Half* scales, QuantizedRow x0, QuantizedRow x1, QuantizedRow x2, QuantizedRow x3, int blocks, float* result)
    {
        result[0] = Dot1(row, scales, x0, blocks);
        result[1] = Dot1(row, scales, x1, blocks);
        result[2] = Dot1(row, scales, x2, blocks);
        result[3] = Dot1(row, scales, x3, blocks);
    }

    public static void Rows4(byte* row, long rowBytes, Half* scales, QuantizedRow x, int blocks, float* result) =>
        RowsOneByOne.Rows4<ScalarIntegerDots<TRow>>(row, rowBytes, scales, x, blocks, result);
}

/// <summary>One stored block's integer dot product, in plain C#.</summary>
unsafe interface IIntegerRow
{
    /// <summary>True for int4: the caller subtracts the offset term.</summary>
    static abstract bool Offset { get; }
    static abstract int Block(byte* row, sbyte* q, int block);
}

unsafe readonly struct Int8Row : IIntegerRow
{
    public static bool Offset => false;

    public static int Block(byte* row, sbyte* q, int block)
    {
        int sum = 0;
        var w = (sbyte*)row + block * 32;
        var x = q + block * 32;
        for (int i = 0; i < 32; i++) sum += w[i] * x[i];
        return sum;
    }
}

unsafe readonly struct Int4Row : IIntegerRow
{
    public static bool Offset => true;

    public static int Block(byte* row, sbyte* q, int block)
    {
        int sum = 0;
        byte* p = row + block * 16;
        sbyte* x = q + block * 32;
        for (int i = 0; i < 16; i++) sum += (p[i] & 15) * x[i] + (p[i] >> 4) * x[i + 16];
        return sum;
    }
}

/// <summary>How one 256-bit path decodes a block of its format into the two operands of a u8 x s8 product.</summary>
unsafe interface IBlockBytes256
{
    static abstract bool Offset { get; }
    /// <summary>Stored bytes of one block (the scales apart).</summary>
    static abstract int BlockBytes { get; }
    /// <summary>The unsigned operand for block <paramref name="block"/>, and what the activations' signs must be flipped by (int8: the weights; int4: nothing).</summary>
    static abstract Vector256<byte> Unsigned(byte* row, int block, out Vector256<sbyte> signs);
    static abstract Vector256<sbyte> Signed(Vector256<sbyte> x, Vector256<sbyte> signs);
}

/// <summary>int8: |w| times x carrying w's sign (the instructions multiply u8 by s8).</summary>
unsafe readonly struct Int8Bytes : IBlockBytes256
{
    public static bool Offset => false;
    public static int BlockBytes => 32;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Unsigned(byte* row, int block, out Vector256<sbyte> signs)
    {
        signs = Vector256.Load((sbyte*)row + block * 32);
        return Avx2.Abs(signs);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Signed(Vector256<sbyte> x, Vector256<sbyte> signs) => Avx2.Sign(x, signs);
}

/// <summary>int4: the 16 bytes' low nibbles (values 0-15) then high nibbles (16-31), unsigned.</summary>
unsafe readonly struct Int4Bytes : IBlockBytes256
{
    public static bool Offset => true;
    public static int BlockBytes => 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Unsigned(byte* row, int block, out Vector256<sbyte> signs)
    {
        signs = default;
        var bytes = Vector128.Load(row + block * 16);
        var mask = Vector128.Create((byte)15);
        return Vector256.Create(bytes & mask, Vector128.ShiftRightLogical(bytes.AsUInt16(), 4).AsByte() & mask);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Signed(Vector256<sbyte> x, Vector256<sbyte> signs) => x;
}

/// <summary>AVX2 (with VNNI where the CPU has it): one block per vector, the scales of 8 blocks widened at once.</summary>
unsafe readonly struct Avx2IntegerDots<TBytes, TPairs> : IIntegerDots where TBytes : struct, IBlockBytes256 where TPairs : struct, IBytePairs
{

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Block(Vector256<byte> unsigned, Vector256<sbyte> signs, sbyte* x, Vector256<float> scales, int lane, Vector256<float> sum) =>
        Fma.MultiplyAdd(Avx.ConvertToVector256Single(TPairs.Sum(unsigned, TBytes.Signed(Vector256.Load(x), signs))), Avx2.PermuteVar8x32(scales, Vector256.Create(lane)), sum);

    /// <summary>The offset term over 8 blocks; lanes past the row's last block (another row's scales, or padding) masked off.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Offsets(Vector256<float> rowScales, float* offsets, int count, Vector256<float> sum) =>
        sum + Vector256.ConditionalSelect(Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(count)).AsSingle(), rowScales * Vector256.Load(offsets), default);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot1(byte* row, Half* scales, QuantizedRow x, int blocks)
    {
        Vector256<float> s0 = default, s1 = default, offset = default;
        for (int b0 = 0; b0 < blocks; b0 += 8)
        {
            Prefetch.Lines(row + b0 * TBytes.BlockBytes + Prefetch.Ahead, 8 * TBytes.BlockBytes);
            var rowScales = IntegerScales.Eight(scales + b0);
            var c = rowScales * Vector256.Load(x.Scales + b0);
            int n = Math.Min(8, blocks - b0);
            if (TBytes.Offset) offset = Offsets(rowScales, x.Offsets + b0, n, offset);
            int j = 0;
            for (; j + 1 < n; j += 2)
            {
                int b = b0 + j;
                s0 = Block(TBytes.Unsigned(row, b, out var signs0), signs0, x.Values + b * 32, c, j, s0);
                s1 = Block(TBytes.Unsigned(row, b + 1, out var signs1), signs1, x.Values + b * 32 + 32, c, j + 1, s1);
            }
            if (j < n) s0 = Block(TBytes.Unsigned(row, b0 + j, out var signs), signs, x.Values + (b0 + j) * 32, c, j, s0);
        }
        return Vector256.Sum(s0 + s1 - offset);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot4(byte* row, Half* scales, QuantizedRow x0, QuantizedRow x1, QuantizedRow x2, QuantizedRow x3, int blocks, float* result)
    {
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
        Vector256<float> o0 = default, o1 = default, o2 = default, o3 = default;
        for (int b0 = 0; b0 < blocks; b0 += 8)
        {
            var rowScales = IntegerScales.Eight(scales + b0);
            var c0 = rowScales * Vector256.Load(x0.Scales + b0);
            var c1 = rowScales * Vector256.Load(x1.Scales + b0);
            var c2 = rowScales * Vector256.Load(x2.Scales + b0);
            var c3 = rowScales * Vector256.Load(x3.Scales + b0);
            int n = Math.Min(8, blocks - b0);
            if (TBytes.Offset)
            {
                o0 = Offsets(rowScales, x0.Offsets + b0, n, o0);
                o1 = Offsets(rowScales, x1.Offsets + b0, n, o1);
                o2 = Offsets(rowScales, x2.Offsets + b0, n, o2);
                o3 = Offsets(rowScales, x3.Offsets + b0, n, o3);
            }
            for (int j = 0; j < n; j++)
            {
                int b = b0 + j, o = b * 32;
                var unsigned = TBytes.Unsigned(row, b, out var signs);
                s0 = Block(unsigned, signs, x0.Values + o, c0, j, s0);
                s1 = Block(unsigned, signs, x1.Values + o, c1, j, s1);
                s2 = Block(unsigned, signs, x2.Values + o, c2, j, s2);
                s3 = Block(unsigned, signs, x3.Values + o, c3, j, s3);
            }
        }
        result[0] = Vector256.Sum(s0 - o0);
        result[1] = Vector256.Sum(s1 - o1);
        result[2] = Vector256.Sum(s2 - o2);
        result[3] = Vector256.Sum(s3 - o3);
    }

    public static void Rows4(byte* row, long rowBytes, Half* scales, QuantizedRow x, int blocks, float* result) =>
        RowsOneByOne.Rows4<Avx2IntegerDots<TBytes, TPairs>>(row, rowBytes, scales, x, blocks, result);
}

/// <summary>One block on 256 bits, its sum scaled: the block a 512-bit step leaves over (int4's offset is the caller's).</summary>
static unsafe class OneBlock
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot<TBytes256>(byte* row, int block, sbyte* x, float scale) where TBytes256 : struct, IBlockBytes256
    {
        var unsigned = TBytes256.Unsigned(row, block, out var signs);
        return Vector256.Sum(Avx.ConvertToVector256Single(MaddPairs.Sum(unsigned, TBytes256.Signed(Vector256.Load(x), signs)))) * scale;
    }
}
