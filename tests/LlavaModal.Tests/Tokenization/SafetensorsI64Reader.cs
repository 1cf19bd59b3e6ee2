using System.Buffers.Binary;
using System.Text.Json;

namespace LlavaModal.Tests.Tokenization;

/// <summary>Just enough of the safetensors format to read I64 tensors of a fixture (8-byte header length, JSON header, raw data).</summary>
internal static class SafetensorsI64Reader
{
    public static long[] Read(string path, string name)
    {
        using FileStream stream = File.OpenRead(path);
        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(lengthBytes);
        byte[] header = new byte[headerLength];
        stream.ReadExactly(header);
        using JsonDocument doc = JsonDocument.Parse(header);
        JsonElement entry = doc.RootElement.GetProperty(name);
        if (entry.GetProperty("dtype").GetString() != "I64")
        {
            throw new InvalidDataException($"{path}: {name} is not I64");
        }

        long begin = entry.GetProperty("data_offsets")[0].GetInt64();
        long end = entry.GetProperty("data_offsets")[1].GetInt64();
        byte[] data = new byte[end - begin];
        stream.Position = 8 + headerLength + begin;
        stream.ReadExactly(data);
        var values = new long[data.Length / 8];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = BinaryPrimitives.ReadInt64LittleEndian(data.AsSpan(i * 8));
        }

        return values;
    }
}
