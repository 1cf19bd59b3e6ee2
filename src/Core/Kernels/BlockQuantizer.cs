using System.Numerics.Tensors;

namespace LlavaModal.Core.Kernels;

/// <summary>
/// Rounds float rows to the stored formats, and reads single stored values back (the scalar kernels and tail loops).
/// int8: per block of 32, scale = max|w| / 127, q = round(w / scale). int4: as llama.cpp's Q4_0, the value of largest
/// magnitude m maps to -8 (scale = m / -8), q = clamp(round(w / scale) + 8, 0, 15), nibbles low half first.
/// </summary>
static class BlockQuantizer
{
    const int Block = WeightFormats.BlockSize;

    public static void QuantizeInt8(ReadOnlySpan<float> values, Span<sbyte> quants, Span<Half> scales)
    {
        for (int b = 0; b < scales.Length; b++)
        {
            var block = values.Slice(b * Block, Block);
            var scale = (Half)(TensorPrimitives.MaxMagnitude(block) is var m && float.IsFinite(m) ? Math.Abs(m) / 127f : 0f);
            scales[b] = scale;
            // Divide by the rounded scale the kernels will multiply by, so the error stays within half a step.
            float inverse = (float)scale == 0 ? 0 : 1 / (float)scale;
            for (int i = 0; i < Block; i++)
                quants[b * Block + i] = (sbyte)Math.Clamp(MathF.Round(block[i] * inverse), -127, 127);
        }
    }

    public static void QuantizeInt4(ReadOnlySpan<float> values, Span<byte> packed, Span<Half> scales)
    {
        const int half = Block / 2;
        for (int b = 0; b < scales.Length; b++)
        {
            var block = values.Slice(b * Block, Block);
            float extreme = TensorPrimitives.MaxMagnitude(block);
            var scale = (Half)(float.IsFinite(extreme) ? extreme / -8f : 0f);
            scales[b] = scale;
            float inverse = (float)scale == 0 ? 0 : 1 / (float)scale;
            for (int i = 0; i < half; i++)
            {
                int low = Math.Clamp((int)MathF.Round(block[i] * inverse) + 8, 0, 15);
                int high = Math.Clamp((int)MathF.Round(block[i + half] * inverse) + 8, 0, 15);
                packed[b * half + i] = (byte)(low | (high << 4));
            }
        }
    }

    /// <summary>Rounds to the nearest bfloat16 (ties to even), as libtorch does; NaN stays NaN.</summary>
    public static void ToBFloat16(ReadOnlySpan<float> values, Span<ushort> target)
    {
        for (int i = 0; i < values.Length; i++)
        {
            uint bits = BitConverter.SingleToUInt32Bits(values[i]);
            target[i] = float.IsNaN(values[i]) ? (ushort)((bits >> 16) | 0x40) : (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
        }
    }

    /// <summary>Value <paramref name="column"/> of a stored row (<paramref name="row"/> points at the row's values, <paramref name="scales"/> at its scales).</summary>
    public static unsafe float Element(WeightFormat format, byte* row, Half* scales, int column) => format switch
    {
        WeightFormat.F32 => ((float*)row)[column],
        WeightFormat.BF16 => BitConverter.UInt32BitsToSingle((uint)((ushort*)row)[column] << 16),
        WeightFormat.F16 => (float)((Half*)row)[column],
        WeightFormat.Int8 => ((sbyte*)row)[column] * (float)scales[column / Block],
        WeightFormat.Int4 => Int4(row, column) * (float)scales[column / Block],
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };

    static unsafe int Int4(byte* row, int column)
    {
        int block = column / Block, within = column % Block;
        byte pair = row[block * (Block / 2) + within % (Block / 2)];
        return (within < Block / 2 ? pair & 0xF : pair >> 4) - 8;
    }
}
