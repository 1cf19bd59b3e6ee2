using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlavaModal.Core.Kernels;

/// <summary>Decodes block <c>b</c> (values 32b .. 32b + 31) of a stored row into two 512-bit float vectors, scaled.</summary>
unsafe interface IBlock512
{
    /// <summary>Stored bytes of one block (the scales apart).</summary>
    static abstract int BlockBytes { get; }
    static abstract void Load(byte* row, float* scales, int block, out Vector512<float> low, out Vector512<float> high);
}

/// <summary>Decodes block <c>b</c> of a stored row into four 256-bit float vectors (values 0-7, 8-15, 16-23, 24-31), scaled.</summary>
unsafe interface IBlock256
{
    /// <summary>Stored bytes of one block (the scales apart).</summary>
    static abstract int BlockBytes { get; }
    static abstract void Load(byte* row, float* scales, int block, out Vector256<float> v0, out Vector256<float> v1, out Vector256<float> v2, out Vector256<float> v3);
}

unsafe readonly struct F32Block : IBlock512, IBlock256
{
    public static int BlockBytes => 128;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(byte* row, float* scales, int block, out Vector512<float> low, out Vector512<float> high)
    {
        var p = (float*)row + block * 32;
        low = Vector512.Load(p);
        high = Vector512.Load(p + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(byte* row, float* scales, int block, out Vector256<float> v0, out Vector256<float> v1, out Vector256<float> v2, out Vector256<float> v3)
    {
        var p = (float*)row + block * 32;
        v0 = Vector256.Load(p);
        v1 = Vector256.Load(p + 8);
        v2 = Vector256.Load(p + 16);
        v3 = Vector256.Load(p + 24);
    }
}

/// <summary>bfloat16 is the upper half of a float: widen and shift.</summary>
unsafe readonly struct BF16Block : IBlock512, IBlock256
{
    public static int BlockBytes => 64;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(byte* row, float* scales, int block, out Vector512<float> low, out Vector512<float> high)
    {
        var p = (ushort*)row + block * 32;
        low = Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(Vector256.Load(p)), 16).AsSingle();
        high = Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(Vector256.Load(p + 16)), 16).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(byte* row, float* scales, int block, out Vector256<float> v0, out Vector256<float> v1, out Vector256<float> v2, out Vector256<float> v3)
    {
        var p = (ushort*)row + block * 32;
        v0 = Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(p), 16).AsSingle();
        v1 = Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(p + 8), 16).AsSingle();
        v2 = Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(p + 16), 16).AsSingle();
        v3 = Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(p + 24), 16).AsSingle();
    }
}

/// <summary>
/// IEEE half widened by bit arithmetic (.NET exposes no f16 conversion instruction): each half sign-extended to 32 bits
/// and shifted left 13 puts its sign, exponent and mantissa where a float's go (the bits between, copies of the sign,
/// masked off), and multiplying by 2^112 re-biases normals and turns subnormals into the right normals exactly, the
/// sign riding along. Infinities and NaNs come out of that as finite values of 2^16 or more (no finite half reaches
/// it), and get a float's all-ones exponent instead.
/// </summary>
unsafe readonly struct F16Block : IBlock512, IBlock256
{
    public static int BlockBytes => 64;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Widen(Vector256<ushort> halves)
    {
        var bits = Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(halves.AsInt16()), 13) & Vector512.Create(unchecked((int)0x8FFFFFFF));
        var value = bits.AsSingle() * Vector512.Create(5.192296858534828e33f); // 2^112
        return Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(Vector512.Abs(value), Vector512.Create(65536f)),
            (bits | Vector512.Create(0x7F800000)).AsSingle(), value);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Widen(Vector128<ushort> halves)
    {
        var bits = Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(halves.AsInt16()), 13) & Vector256.Create(unchecked((int)0x8FFFFFFF));
        var value = bits.AsSingle() * Vector256.Create(5.192296858534828e33f);
        return Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(Vector256.Abs(value), Vector256.Create(65536f)),
            (bits | Vector256.Create(0x7F800000)).AsSingle(), value);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(byte* row, float* scales, int block, out Vector512<float> low, out Vector512<float> high)
    {
        var p = (ushort*)row + block * 32;
        low = Widen(Vector256.Load(p));
        high = Widen(Vector256.Load(p + 16));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(byte* row, float* scales, int block, out Vector256<float> v0, out Vector256<float> v1, out Vector256<float> v2, out Vector256<float> v3)
    {
        var p = (ushort*)row + block * 32;
        v0 = Widen(Vector128.Load(p));
        v1 = Widen(Vector128.Load(p + 8));
        v2 = Widen(Vector128.Load(p + 16));
        v3 = Widen(Vector128.Load(p + 24));
    }
}

/// <summary>int8 blocks: sign-extend, convert, multiply by the block's scale.</summary>
unsafe readonly struct Int8Block : IBlock512, IBlock256
{
    public static int BlockBytes => 32;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(byte* row, float* scales, int block, out Vector512<float> low, out Vector512<float> high)
    {
        var q = (sbyte*)row + block * 32;
        var scale = Vector512.Create(scales[block]);
        low = Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(q))) * scale;
        high = Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(q + 16))) * scale;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(byte* row, float* scales, int block, out Vector256<float> v0, out Vector256<float> v1, out Vector256<float> v2, out Vector256<float> v3)
    {
        var q = (sbyte*)row + block * 32;
        var scale = Vector256.Create(scales[block]);
        v0 = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q)) * scale;
        v1 = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q + 8)) * scale;
        v2 = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q + 16)) * scale;
        v3 = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q + 24)) * scale;
    }
}

/// <summary>int4 blocks: 16 bytes, low nibbles are values 0-15 and high nibbles 16-31, each offset by 8.</summary>
unsafe readonly struct Int4Block : IBlock512, IBlock256
{
    public static int BlockBytes => 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(byte* row, float* scales, int block, out Vector512<float> low, out Vector512<float> high)
    {
        var bytes = Avx512F.ConvertToVector512Int32(Vector128.Load(row + block * 16));
        var scale = Vector512.Create(scales[block]);
        var eight = Vector512.Create(8);
        low = Avx512F.ConvertToVector512Single((bytes & Vector512.Create(15)) - eight) * scale;
        high = Avx512F.ConvertToVector512Single(Avx512F.ShiftRightLogical(bytes, 4) - eight) * scale;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(byte* row, float* scales, int block, out Vector256<float> v0, out Vector256<float> v1, out Vector256<float> v2, out Vector256<float> v3)
    {
        var q = row + block * 16;
        var first = Avx2.ConvertToVector256Int32(q);
        var second = Avx2.ConvertToVector256Int32(q + 8);
        var scale = Vector256.Create(scales[block]);
        var eight = Vector256.Create(8);
        var fifteen = Vector256.Create(15);
        v0 = Avx.ConvertToVector256Single((first & fifteen) - eight) * scale;
        v1 = Avx.ConvertToVector256Single((second & fifteen) - eight) * scale;
        v2 = Avx.ConvertToVector256Single(Avx2.ShiftRightLogical(first, 4) - eight) * scale;
        v3 = Avx.ConvertToVector256Single(Avx2.ShiftRightLogical(second, 4) - eight) * scale;
    }
}
