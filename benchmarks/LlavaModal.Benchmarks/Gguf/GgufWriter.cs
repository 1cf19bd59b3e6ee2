using System.Text;

namespace LlavaModal.Benchmarks.Gguf;

/// <summary>GGUF metadata value types (the numbers the format stores before each value).</summary>
enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7, String = 8, Array = 9,
    UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>The ggml tensor types this code writes or reads back (their ids and block sizes in GGUF).</summary>
enum GgmlType : uint
{
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, BF16 = 30,
}

/// <summary>One tensor to write: its name, ggml dimensions (innermost first) and a writer of exactly <c>Bytes</c> bytes.</summary>
sealed record GgufTensor(string Name, long[] Dims, GgmlType Type, long Bytes, Action<Stream> WriteData);

/// <summary>
/// Writes a GGUF (version 3) file: the header, metadata key/values, tensor descriptions with offsets aligned to
/// <see cref="Alignment"/>, then the tensor data, each padded to the alignment. Written from the format description
/// because no .NET package served here writes GGUF (only llama.cpp's own Python package does).
/// </summary>
sealed class GgufWriter
{
    /// <summary>The format's default alignment (used when <c>general.alignment</c> is absent).</summary>
    public const int Alignment = 32;

    /// <summary>"GGUF" read as a little-endian uint32.</summary>
    public const uint Magic = 0x46554747;

    public const uint Version = 3;

    readonly List<(string Key, Action<BinaryWriter> Write)> metadata = [];
    readonly List<GgufTensor> tensors = [];

    public void Add(string key, uint value) => Add(key, w => { w.Write((uint)GgufValueType.UInt32); w.Write(value); });

    public void Add(string key, float value) => Add(key, w => { w.Write((uint)GgufValueType.Float32); w.Write(value); });

    public void Add(string key, bool value) => Add(key, w => { w.Write((uint)GgufValueType.Bool); w.Write((byte)(value ? 1 : 0)); });

    public void Add(string key, string value) => Add(key, w => { w.Write((uint)GgufValueType.String); WriteString(w, value); });

    public void Add(string key, IReadOnlyList<string> values) => AddArray(key, GgufValueType.String, values.Count, (w, i) => WriteString(w, values[i]));

    public void Add(string key, IReadOnlyList<float> values) => AddArray(key, GgufValueType.Float32, values.Count, (w, i) => w.Write(values[i]));

    public void Add(string key, IReadOnlyList<int> values) => AddArray(key, GgufValueType.Int32, values.Count, (w, i) => w.Write(values[i]));

    public void Add(GgufTensor tensor)
    {
        if (tensors.Any(t => t.Name == tensor.Name)) throw new ArgumentException($"GGUF: tensor '{tensor.Name}' added twice.");
        tensors.Add(tensor);
    }

    void AddArray(string key, GgufValueType itemType, int count, Action<BinaryWriter, int> item) => Add(key, w =>
    {
        w.Write((uint)GgufValueType.Array);
        w.Write((uint)itemType);
        w.Write((ulong)count);
        for (int i = 0; i < count; i++) item(w, i);
    });

    void Add(string key, Action<BinaryWriter> write)
    {
        if (metadata.Any(m => m.Key == key)) throw new ArgumentException($"GGUF: metadata key '{key}' added twice.");
        metadata.Add((key, write));
    }

    /// <summary>Writes the file to <paramref name="path"/> through a temporary sibling renamed at the end (never a half-written file under the name).</summary>
    public void Write(string path)
    {
        var partial = path + ".partial-" + Environment.ProcessId;
        using (var file = new FileStream(partial, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
        using (var w = new BinaryWriter(file, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(Version);
            w.Write((ulong)tensors.Count);
            w.Write((ulong)metadata.Count);
            foreach (var (key, write) in metadata)
            {
                WriteString(w, key);
                write(w);
            }
            long offset = 0;
            foreach (var t in tensors)
            {
                WriteString(w, t.Name);
                w.Write((uint)t.Dims.Length);
                foreach (var d in t.Dims) w.Write((ulong)d);
                w.Write((uint)t.Type);
                w.Write((ulong)offset);
                offset = Align(offset + t.Bytes);
            }
            w.Flush();
            Pad(file);
            foreach (var t in tensors)
            {
                long start = file.Position;
                t.WriteData(file);
                if (file.Position - start != t.Bytes)
                    throw new InvalidOperationException($"GGUF: tensor '{t.Name}' wrote {file.Position - start} bytes, its description says {t.Bytes}.");
                Pad(file);
            }
        }
        File.Move(partial, path, overwrite: false);
    }

    public static long Align(long offset) => (offset + Alignment - 1) / Alignment * Alignment;

    static void Pad(Stream s)
    {
        long padding = Align(s.Position) - s.Position;
        for (long i = 0; i < padding; i++) s.WriteByte(0);
    }

    static void WriteString(BinaryWriter w, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }
}
