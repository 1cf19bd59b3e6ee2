using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlavaModal.Core.Kernels;

/// <summary>
/// Lays out rows <c>first .. first + count - 1</c> of a stored matrix as a <see cref="Gemm"/> panel: f32, depth-major
/// (<c>panel[k · width + j] = W[first + j, k]</c>), rows past <c>count</c> as zeros.
/// </summary>
unsafe interface IPanelPacker
{
    // scratch: room for `width` rows of f32 values and of block scales.
    static abstract void Pack(PackedMatrix w, int first, int count, int width, float* panel, float* scratch);
}

/// <summary>Any path: decode the rows whole, then transpose element by element.</summary>
unsafe readonly struct DecodingPacker<TDots> : IPanelPacker where TDots : struct, IDots
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Pack(PackedMatrix w, int first, int count, int width, float* panel, float* scratch)
    {
        int columns = w.Columns;
        float* scales = scratch + (long)width * columns;
        for (int j = 0; j < count; j++) RowDecoder.Decode<TDots>(w, first + j, scales, scratch + (long)j * columns);
        for (int k = 0; k < columns; k++)
        {
            float* target = panel + (long)k * width;
            for (int j = 0; j < count; j++) target[j] = scratch[(long)j * columns + k];
            for (int j = count; j < width; j++) target[j] = 0;
        }
    }
}

/// <summary>
/// AVX-512: each block of 32 columns of 16 rows is decoded into 32 vectors and transposed in registers (two 16 × 16
/// transposes), so the panel is written a whole vector at a time. Element-wise transposing cost as much as the
/// products themselves below ~50 tokens.
/// </summary>
unsafe readonly struct Avx512Packer<TBlock> : IPanelPacker where TBlock : struct, IBlock512
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Pack(PackedMatrix w, int first, int count, int width, float* panel, float* scratch)
    {
        int columns = w.Columns, perRow = w.ScalesPerRow, blocks = columns / WeightFormats.BlockSize;
        var vectors = stackalloc Vector512<float>[32];
        var transposing = stackalloc Vector512<float>[16];
        for (int j = 0; j < count && perRow > 0; j++)
            TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(w.ScalesPointer + (long)(first + j) * perRow, perRow), new Span<float>(scratch + (long)j * perRow, perRow));
        for (int group = 0; group < width; group += 16)
        {
            int rows = Math.Clamp(count - group, 0, 16);
            for (int b = 0; b < blocks; b++)
            {
                for (int r = 0; r < 16; r++)
                {
                    if (r < rows)
                    {
                        int row = first + group + r;
                        TBlock.Load(w.DataPointer + row * w.RowBytes, scratch + (long)(group + r) * perRow, b, out vectors[r], out vectors[16 + r]);
                    }
                    else vectors[r] = vectors[16 + r] = default;
                }
                float* target = panel + (long)b * 32 * width + group;
                RegisterTranspose.Transpose(vectors, target, width, transposing);
                RegisterTranspose.Transpose(vectors + 16, target + 16L * width, width, transposing);
            }
            // Float formats may end in a partial block.
            for (int k = blocks * WeightFormats.BlockSize; k < columns; k++)
                for (int r = 0; r < 16; r++)
                {
                    int row = first + group + r;
                    panel[(long)k * width + group + r] = r < rows ? BlockQuantizer.Element(w.Format, w.DataPointer + row * w.RowBytes, w.ScalesPointer + (long)row * perRow, k) : 0;
                }
        }
    }
}

/// <summary>A 16 × 16 f32 transpose in AVX-512 registers: weight panels and the prompt attention's key blocks.</summary>
static unsafe class RegisterTranspose
{
    /// <summary>Writes column <c>c</c> of the 16 × 16 matrix whose rows are <paramref name="rows"/> to <c>target + c · stride</c> (<paramref name="u"/>: room for 16 vectors).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose(Vector512<float>* rows, float* target, int stride, Vector512<float>* u)
    {
        // Within each 128-bit lane: 4 × 4 transposes of rows 4g .. 4g + 3 (unpack pairs of floats, then pairs of pairs).
        for (int g = 0; g < 4; g++)
        {
            var r0 = rows[4 * g];
            var r1 = rows[4 * g + 1];
            var r2 = rows[4 * g + 2];
            var r3 = rows[4 * g + 3];
            var t0 = Avx512F.UnpackLow(r0, r1).AsDouble();
            var t1 = Avx512F.UnpackHigh(r0, r1).AsDouble();
            var t2 = Avx512F.UnpackLow(r2, r3).AsDouble();
            var t3 = Avx512F.UnpackHigh(r2, r3).AsDouble();
            // u[4g + j]: lane L holds column 4L + j of rows 4g .. 4g + 3.
            u[4 * g] = Avx512F.UnpackLow(t0, t2).AsSingle();
            u[4 * g + 1] = Avx512F.UnpackHigh(t0, t2).AsSingle();
            u[4 * g + 2] = Avx512F.UnpackLow(t1, t3).AsSingle();
            u[4 * g + 3] = Avx512F.UnpackHigh(t1, t3).AsSingle();
        }
        // Then gather lane L of the four groups: column 4L + j.
        for (int j = 0; j < 4; j++)
        {
            var lowPairs01 = Avx512F.Shuffle4x128(u[j], u[4 + j], 0x44);
            var highPairs01 = Avx512F.Shuffle4x128(u[j], u[4 + j], 0xEE);
            var lowPairs23 = Avx512F.Shuffle4x128(u[8 + j], u[12 + j], 0x44);
            var highPairs23 = Avx512F.Shuffle4x128(u[8 + j], u[12 + j], 0xEE);
            Avx512F.Shuffle4x128(lowPairs01, lowPairs23, 0x88).Store(target + (long)j * stride);
            Avx512F.Shuffle4x128(lowPairs01, lowPairs23, 0xDD).Store(target + (long)(4 + j) * stride);
            Avx512F.Shuffle4x128(highPairs01, highPairs23, 0x88).Store(target + (long)(8 + j) * stride);
            Avx512F.Shuffle4x128(highPairs01, highPairs23, 0xDD).Store(target + (long)(12 + j) * stride);
        }
    }
}
