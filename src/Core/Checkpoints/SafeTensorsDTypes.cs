using static TorchSharp.torch;

namespace LlavaModal.Core.Checkpoints;

/// <summary>The safetensors dtype strings LlavaModal reads and writes, and their TorchSharp equivalents.</summary>
public static class SafeTensorsDTypes
{
    static readonly Dictionary<string, (ScalarType Type, int Size)> Table = new(StringComparer.Ordinal)
    {
        ["F64"] = (ScalarType.Float64, 8),
        ["F32"] = (ScalarType.Float32, 4),
        ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2),
        ["I64"] = (ScalarType.Int64, 8),
        ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2),
        ["I8"] = (ScalarType.Int8, 1),
        ["U8"] = (ScalarType.Byte, 1),
        ["BOOL"] = (ScalarType.Bool, 1),
    };

    /// <summary>The supported dtype strings.</summary>
    public static IEnumerable<string> Supported => Table.Keys;

    /// <summary>True when <paramref name="dtype"/> is supported.</summary>
    public static bool IsSupported(string dtype) => Table.ContainsKey(dtype);

    /// <summary>Bytes per element.</summary>
    public static int ElementSize(string dtype) => Table[dtype].Size;

    /// <summary>The TorchSharp type of a safetensors dtype string.</summary>
    public static ScalarType ToScalarType(string dtype) =>
        Table.TryGetValue(dtype, out var e) ? e.Type : throw new ArgumentException($"Unsupported safetensors dtype '{dtype}'.", nameof(dtype));

    /// <summary>The safetensors dtype string of a TorchSharp type.</summary>
    public static string FromScalarType(ScalarType type) =>
        Table.FirstOrDefault(kv => kv.Value.Type == type).Key ?? throw new ArgumentException($"Type {type} cannot be stored in safetensors.", nameof(type));
}
