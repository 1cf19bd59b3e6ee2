using System.Text;

namespace LlavaModal.Benchmarks.Gguf;

/// <summary>One tensor description read from a GGUF file.</summary>
sealed record GgufTensorInfo(string Name, long[] Dims, GgmlType Type, long Offset)
{
    public long Elements => Dims.Aggregate(1L, (a, b) => a * b);

    /// <summary>Bytes of the tensor's data (block types: whole blocks along the innermost dimension).</summary>
    public long Bytes
    {
        get
        {
            var (block, size) = GgufReader.BlockSize(Type);
            if (Dims[0] % block != 0) throw new InvalidDataException($"GGUF tensor '{Name}': {Dims[0]} elements per row is not a multiple of {Type}'s block of {block}.");
            return Elements / block * size;
        }
    }
}

/// <summary>
/// Reads a GGUF file's header, scalar metadata (arrays are skipped, their lengths kept) and tensor descriptions: enough to
/// check an export and to count the bytes of weights a quantized file holds.
/// </summary>
sealed class GgufReader
{
    public uint Version { get; private init; }

    /// <summary>Scalar and string values by key; arrays as their element count (<c>long</c>).</summary>
    public IReadOnlyDictionary<string, object> Metadata { get; private init; } = new Dictionary<string, object>();

    public IReadOnlyList<GgufTensorInfo> Tensors { get; private init; } = [];

    /// <summary>Absolute file offset where the tensor data starts.</summary>
    public long DataStart { get; private init; }

    public static GgufReader Open(string path)
    {
        using var file = File.OpenRead(path);
        using var r = new BinaryReader(file, Encoding.UTF8);
        uint magic = r.ReadUInt32();
        if (magic != GgufWriter.Magic) throw new InvalidDataException($"{path}: not a GGUF file (magic 0x{magic:x8}).");
        uint version = r.ReadUInt32();
        if (version is < 2 or > 3) throw new InvalidDataException($"{path}: GGUF version {version}, expected 2 or 3.");
        long tensorCount = checked((long)r.ReadUInt64());
        long kvCount = checked((long)r.ReadUInt64());
        var metadata = new Dictionary<string, object>(StringComparer.Ordinal);
        for (long i = 0; i < kvCount; i++)
        {
            var key = ReadString(r);
            metadata[key] = ReadValue(r, (GgufValueType)r.ReadUInt32());
        }
        var tensors = new List<GgufTensorInfo>();
        for (long i = 0; i < tensorCount; i++)
        {
            var name = ReadString(r);
            var dims = new long[r.ReadUInt32()];
            for (int d = 0; d < dims.Length; d++) dims[d] = checked((long)r.ReadUInt64());
            tensors.Add(new GgufTensorInfo(name, dims, (GgmlType)r.ReadUInt32(), checked((long)r.ReadUInt64())));
        }
        long alignment = metadata.TryGetValue("general.alignment", out var a) ? Convert.ToInt64(a, System.Globalization.CultureInfo.InvariantCulture) : GgufWriter.Alignment;
        long dataStart = (file.Position + alignment - 1) / alignment * alignment;
        return new GgufReader { Version = version, Metadata = metadata, Tensors = tensors, DataStart = dataStart };
    }

    /// <summary>Elements per block and bytes per block of a ggml type.</summary>
    public static (int Elements, int Bytes) BlockSize(GgmlType type) => type switch
    {
        GgmlType.F32 => (1, 4),
        GgmlType.F16 or GgmlType.BF16 => (1, 2),
        GgmlType.Q4_0 => (32, 18),
        GgmlType.Q4_1 => (32, 20),
        GgmlType.Q5_0 => (32, 22),
        GgmlType.Q5_1 => (32, 24),
        GgmlType.Q8_0 => (32, 34),
        GgmlType.Q2_K => (256, 84),
        GgmlType.Q3_K => (256, 110),
        GgmlType.Q4_K => (256, 144),
        GgmlType.Q5_K => (256, 176),
        GgmlType.Q6_K => (256, 210),
        _ => throw new InvalidDataException($"GGUF: ggml type {(uint)type} is not one this benchmark knows the size of."),
    };

    static object ReadValue(BinaryReader r, GgufValueType type)
    {
        switch (type)
        {
            case GgufValueType.Array:
            {
                var itemType = (GgufValueType)r.ReadUInt32();
                long count = checked((long)r.ReadUInt64());
                for (long i = 0; i < count; i++) ReadValue(r, itemType);
                return count;
            }
            case GgufValueType.String: return ReadString(r);
            case GgufValueType.UInt8: return r.ReadByte();
            case GgufValueType.Int8: return r.ReadSByte();
            case GgufValueType.UInt16: return r.ReadUInt16();
            case GgufValueType.Int16: return r.ReadInt16();
            case GgufValueType.UInt32: return r.ReadUInt32();
            case GgufValueType.Int32: return r.ReadInt32();
            case GgufValueType.Float32: return r.ReadSingle();
            case GgufValueType.Bool: return r.ReadByte() != 0;
            case GgufValueType.UInt64: return r.ReadUInt64();
            case GgufValueType.Int64: return r.ReadInt64();
            case GgufValueType.Float64: return r.ReadDouble();
            default: throw new InvalidDataException($"GGUF: unknown metadata value type {(uint)type}.");
        }
    }

    static string ReadString(BinaryReader r)
    {
        long length = checked((long)r.ReadUInt64());
        if (length > 1 << 24) throw new InvalidDataException($"GGUF: string of {length} bytes.");
        return Encoding.UTF8.GetString(r.ReadBytes((int)length));
    }
}
