using LlavaModal.Core.Kernels;
using static TorchSharp.torch;

namespace LlavaModal.Core.Quantization;

/// <summary>
/// How packed layers are stored in a safetensors checkpoint (<c>llava-modal quantize</c>): in place of
/// <c>&lt;layer&gt;.weight</c>, <c>&lt;layer&gt;.qweight</c> (int8: I8 [out, in]; int4: U8 [out, in / 2], two values a
/// byte, low nibble first within each block of 32) and <c>&lt;layer&gt;.scales</c> (F16 [out, in / 32]); config.json
/// carries <c>"quantization_config": {"quant_method": "llava-modal", "format": "int8" | "int4", "block_size": 32}</c>.
/// </summary>
public static class PackedTensors
{
    /// <summary>Tensor name (relative to the layer) of the packed values.</summary>
    public const string Values = "qweight";
    /// <summary>Tensor name (relative to the layer) of the block scales.</summary>
    public const string Scales = "scales";
    /// <summary>The config.json key.</summary>
    public const string ConfigKey = "quantization_config";
    /// <summary>The <c>quant_method</c> this project writes.</summary>
    public const string Method = "llava-modal";

    /// <summary>The stored element type of <see cref="Values"/> for a quantized format.</summary>
    public static ScalarType StoredType(WeightFormat format) => format switch
    {
        WeightFormat.Int8 => ScalarType.Int8,
        WeightFormat.Int4 => ScalarType.Byte,
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "only int8 and int4 are stored packed."),
    };

    internal static WeightFormat? FormatOf(ScalarType? stored) => stored switch
    {
        ScalarType.Int8 => WeightFormat.Int8,
        ScalarType.Byte => WeightFormat.Int4,
        _ => null,
    };

    internal static long[] ValuesShape(WeightFormat format, LinearShape shape) => [shape.Out, format.RowBytes(shape.In)];

    internal static long[] ScalesShape(LinearShape shape) => [shape.Out, shape.In / WeightFormats.BlockSize];
}
