using System.Text.Json;
using LlavaModal.Abstractions.IO;
using static TorchSharp.torch;

namespace LlavaModal.Core.Checkpoints;

/// <summary>A tensor to be written: its name, shape and dtype, known before its data exists.</summary>
/// <param name="Name">Tensor name.</param>
/// <param name="Shape">Shape.</param>
/// <param name="Type">Element type.</param>
public sealed record TensorSpec(string Name, long[] Shape, ScalarType Type)
{
    /// <summary>Bytes of data.</summary>
    public long ByteCount => Shape.Aggregate(1L, (a, b) => a * b) * SafeTensorsDTypes.ElementSize(SafeTensorsDTypes.FromScalarType(Type));
}

/// <summary>
/// Writes <c>.safetensors</c> files and sharded checkpoints tensor by tensor: each tensor is produced, written and
/// released before the next, so saving (or generating) a checkpoint never holds a second copy of the model.
/// </summary>
public static class SafeTensorsWriter
{
    /// <summary>Writes existing tensors (in the given order) to <paramref name="path"/>.</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var byName = list.ToDictionary(kv => kv.Key, kv => kv.Value);
        Write(path, list.Select(kv => new TensorSpec(kv.Key, kv.Value.shape, kv.Value.dtype)).ToList(), spec => byName[spec.Name].alias(), metadata);
    }

    /// <summary>
    /// Writes tensors described by <paramref name="specs"/>, asking <paramref name="produce"/> for each one's data
    /// in order (the returned tensor is disposed after writing). The file appears under its name only when complete.
    /// </summary>
    public static void Write(string path, IReadOnlyList<TensorSpec> specs, Func<TensorSpec, Tensor> produce, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["__metadata__"] = metadata ?? new Dictionary<string, string> { ["format"] = "pt" },
        };
        long offset = 0;
        foreach (var spec in specs)
        {
            header[spec.Name] = new Dictionary<string, object>
            {
                ["dtype"] = SafeTensorsDTypes.FromScalarType(spec.Type),
                ["shape"] = spec.Shape,
                ["data_offsets"] = new[] { offset, offset + spec.ByteCount },
            };
            offset += spec.ByteCount;
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(header);
        // Pad the header with spaces to an 8-byte boundary, as the reference writer does, so data stays aligned.
        int padded = (json.Length + 7) / 8 * 8;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        // Written under a short temporary name next to the target, renamed when complete: a 255-byte file name stays valid.
        OutputPaths.SafeWrite(path, stream =>
        {
            stream.Write(BitConverter.GetBytes((ulong)padded));
            stream.Write(json);
            for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var spec in specs)
            {
                using var produced = produce(spec);
                if (!produced.shape.SequenceEqual(spec.Shape) || produced.dtype != spec.Type)
                    throw new InvalidOperationException($"Tensor '{spec.Name}' was produced as {produced.dtype}[{string.Join(", ", produced.shape)}], expected {spec.Type}[{string.Join(", ", spec.Shape)}].");
                using var cpu = produced.detach().cpu().contiguous();
                WriteTensor(stream, cpu);
            }
        });
    }

    /// <summary>
    /// Writes a Hugging Face weights folder: <c>model.safetensors</c>, or shards of at most
    /// <paramref name="maxShardBytes"/> plus <c>model.safetensors.index.json</c> when the weights are larger.
    /// </summary>
    public static void WriteCheckpoint(string directory, IReadOnlyList<TensorSpec> specs, Func<TensorSpec, Tensor> produce, long maxShardBytes = 5L << 30)
    {
        Directory.CreateDirectory(directory);
        long total = specs.Sum(s => s.ByteCount);
        if (total <= maxShardBytes)
        {
            Write(Path.Combine(directory, SafeTensorsCheckpoint.SingleFileName), specs, produce);
            return;
        }
        var shards = new List<List<TensorSpec>> { new() };
        long current = 0;
        foreach (var spec in specs)
        {
            if (current > 0 && current + spec.ByteCount > maxShardBytes) { shards.Add([]); current = 0; }
            shards[^1].Add(spec);
            current += spec.ByteCount;
        }
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < shards.Count; i++)
        {
            var name = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            Write(Path.Combine(directory, name), shards[i], produce);
            foreach (var spec in shards[i]) weightMap[spec.Name] = name;
        }
        var index = new { metadata = new { total_size = total }, weight_map = weightMap };
        File.WriteAllText(Path.Combine(directory, SafeTensorsCheckpoint.IndexFileName), JsonSerializer.Serialize(index, new JsonSerializerOptions { WriteIndented = true }));
    }

    static void WriteTensor(Stream stream, Tensor t)
    {
        long total = t.NumberOfElements * t.ElementSize;
        if (total <= 1L << 30 || t.dim() == 0)
        {
            stream.Write(t.bytes);
            return;
        }
        long rows = t.shape[0];
        long rowBytes = total / rows;
        long perChunk = Math.Max(1, (1L << 30) / rowBytes);
        for (long r = 0; r < rows; r += perChunk)
        {
            using var block = t.narrow(0, r, Math.Min(perChunk, rows - r));
            stream.Write(block.bytes);
        }
    }
}
