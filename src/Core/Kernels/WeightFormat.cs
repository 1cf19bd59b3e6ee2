namespace LlavaModal.Core.Kernels;

/// <summary>How the weights of a linear layer are stored for the CPU kernels.</summary>
public enum WeightFormat
{
    /// <summary>32-bit floats.</summary>
    F32,
    /// <summary>bfloat16.</summary>
    BF16,
    /// <summary>IEEE half precision.</summary>
    F16,
    /// <summary>Blocks of 32 signed 8-bit values sharing one f16 scale (8.5 bits a weight, as llama.cpp's Q8_0).</summary>
    Int8,
    /// <summary>Blocks of 32 4-bit values (offset 8) sharing one f16 scale (4.5 bits a weight, as llama.cpp's Q4_0).</summary>
    Int4,
}

/// <summary>Sizes and names of <see cref="WeightFormat"/>s.</summary>
public static class WeightFormats
{
    /// <summary>Values sharing one scale in the block-quantized formats.</summary>
    public const int BlockSize = 32;

    /// <summary>True for the block-quantized formats (<see cref="WeightFormat.Int8"/>, <see cref="WeightFormat.Int4"/>).</summary>
    public static bool IsQuantized(this WeightFormat format) => format is WeightFormat.Int8 or WeightFormat.Int4;

    /// <summary>Bytes of one row of <paramref name="columns"/> values, without the scales.</summary>
    public static long RowBytes(this WeightFormat format, long columns) => format switch
    {
        WeightFormat.F32 => columns * 4,
        WeightFormat.BF16 or WeightFormat.F16 => columns * 2,
        WeightFormat.Int8 => columns,
        WeightFormat.Int4 => columns / 2,
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, null),
    };

    /// <summary>The lower-case name options and files use (<c>f32</c>, <c>bf16</c>, <c>f16</c>, <c>int8</c>, <c>int4</c>).</summary>
    public static string Name(this WeightFormat format) => format.ToString().ToLowerInvariant();

    /// <summary>Parses a name as <see cref="Name"/> writes it (case-insensitive); null when it is none.</summary>
    public static WeightFormat? Parse(string? name) =>
        Enum.GetValues<WeightFormat>().Cast<WeightFormat?>().FirstOrDefault(f => string.Equals(f!.Value.Name(), name, StringComparison.OrdinalIgnoreCase));
}
