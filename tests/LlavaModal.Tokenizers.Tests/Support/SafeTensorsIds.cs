using System.Buffers.Binary;
using System.Text.Json;

namespace LlavaModal.Tokenizers.Tests.Support;

/// <summary>
/// Reads one I64 tensor of a fixture's safetensors file (8-byte header length, JSON header, raw little-endian data)
/// without TorchSharp, so the tokenizer tests never load libtorch.
/// </summary>
static class SafeTensorsIds
{
    public static long[] Read(string path, string name)
    {
        var bytes = File.ReadAllBytes(path);
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        var entry = header.RootElement.GetProperty(name);
        Assert.Equal("I64", entry.GetProperty("dtype").GetString());
        var offsets = entry.GetProperty("data_offsets");
        int begin = 8 + (int)headerLength + offsets[0].GetInt32(), end = 8 + (int)headerLength + offsets[1].GetInt32();
        var ids = new long[(end - begin) / 8];
        for (int i = 0; i < ids.Length; i++) ids[i] = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(begin + 8 * i));
        return ids;
    }
}
