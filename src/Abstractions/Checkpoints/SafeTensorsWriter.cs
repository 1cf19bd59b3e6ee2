using System.Text.Json;
using static TorchSharp.torch;

namespace LlavaModal.Checkpoints;

/// <summary>Writes <c>.safetensors</c> files tensor by tensor, so saving never holds a second copy of the model.</summary>
public static class SafeTensorsWriter
{
    /// <summary>
    /// Writes <paramref name="tensors"/> (in the given order) to <paramref name="path"/>. The file is written to a
    /// temporary name and renamed at the end, so a failure never leaves a half-written checkpoint behind.
    /// </summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = new Dictionary<string, object>(StringComparer.Ordinal);
        header["__metadata__"] = metadata ?? new Dictionary<string, string> { ["format"] = "pt" };
        long offset = 0;
        foreach (var (name, t) in list)
        {
            long size = t.NumberOfElements * t.ElementSize;
            header[name] = new Dictionary<string, object>
            {
                ["dtype"] = SafeTensorsDTypes.FromScalarType(t.dtype),
                ["shape"] = t.shape,
                ["data_offsets"] = new[] { offset, offset + size },
            };
            offset += size;
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(header);
        // Pad the header with spaces to an 8-byte boundary, as the reference writer does, so data stays aligned.
        int padded = (json.Length + 7) / 8 * 8;
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temp = System.IO.Path.Combine(directory, $".{System.IO.Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                stream.Write(BitConverter.GetBytes((ulong)padded));
                stream.Write(json);
                for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
                foreach (var (_, t) in list)
                {
                    using var cpu = t.detach().cpu().contiguous();
                    WriteTensor(stream, cpu);
                }
            }
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    static void WriteTensor(Stream stream, Tensor t)
    {
        long rows = t.dim() == 0 ? 1 : t.shape[0];
        long total = t.NumberOfElements * t.ElementSize;
        if (total <= 1L << 30 || t.dim() == 0)
        {
            stream.Write(t.bytes);
            return;
        }
        long rowBytes = total / rows;
        long perChunk = Math.Max(1, (1L << 30) / rowBytes);
        for (long r = 0; r < rows; r += perChunk)
        {
            using var block = t.narrow(0, r, Math.Min(perChunk, rows - r));
            stream.Write(block.bytes);
        }
    }
}
