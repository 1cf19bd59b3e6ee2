using System.Text;
using System.Text.Json.Nodes;
using LlavaModal.Abstractions;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Core.Checkpoints;

/// <summary>
/// Seeded fuzzing of safetensors headers: structural edits (dtypes, shapes, offsets of every JSON type, duplicate and
/// non-UTF-8 names, header lengths) and raw byte edits. Every case is refused with a <see cref="CheckpointException"/> or
/// opens, and then every tensor reads back exactly the bytes its entry declares.
/// </summary>
public class SafeTensorsFuzzTests(ITestOutputHelper output)
{
    static readonly string[] Edits =
    [
        "dtype", "dtype-bad", "shape", "shape-neg", "shape-huge", "offsets-string", "offsets-neg", "offsets-huge", "offsets-swap",
        "offsets-float", "offsets-short", "remove-field", "duplicate", "bad-utf8", "header-length", "entry-not-object", "metadata",
    ];

    static (byte[] Header, byte[] Data) Valid()
    {
        using var dir = new TempDir();
        var path = dir.File("x.safetensors");
        using var a = arange(12, dtype: ScalarType.Float32).reshape(3, 4);
        using var b = ones(5, dtype: ScalarType.BFloat16);
        using var c = arange(4, dtype: ScalarType.Int64);
        SafeTensorsWriter.Write(path, [new("a.weight", a), new("b", b), new("c", c)]);
        var bytes = File.ReadAllBytes(path);
        int headerLength = (int)BitConverter.ToUInt64(bytes);
        return (bytes[8..(8 + headerLength)], bytes[(8 + headerLength)..]);
    }

    static byte[] Assemble(byte[] header, byte[] data, long? claimed = null) =>
        [.. BitConverter.GetBytes((ulong)(claimed ?? header.Length)), .. header, .. data];

    static byte[] MakeCase(Random random, int index, byte[] header, byte[] data)
    {
        if (index % 3 == 2) return Fuzz.Mutate(random, Assemble(header, data), 0, 8 + header.Length);
        var root = JsonNode.Parse(header)!.AsObject();
        var names = root.Select(kv => kv.Key).Where(k => k != "__metadata__").ToList();
        var entry = root[names[random.Next(names.Count)]]!.AsObject();
        var edit = Edits[random.Next(Edits.Length)];
        var offsets = entry["data_offsets"]!.AsArray();
        long claimed = header.Length;
        switch (edit)
        {
            case "dtype": entry["dtype"] = new[] { "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F64" }[random.Next(10)]; break;
            case "dtype-bad": entry["dtype"] = random.Next(2) == 0 ? "F8_E4M3" : 32; break;
            case "shape": entry["shape"] = new JsonArray(Enumerable.Range(0, random.Next(4)).Select(_ => (JsonNode)random.Next(0, 13)).ToArray()); break;
            case "shape-neg": entry["shape"] = new JsonArray(-1, 4); break;
            case "shape-huge": entry["shape"] = new JsonArray(long.MaxValue / 2, 3); break;
            case "offsets-string": offsets[random.Next(2)] = "16"; break;
            case "offsets-neg": offsets[0] = -8; break;
            case "offsets-huge": offsets[1] = long.MaxValue; break;
            case "offsets-swap": (offsets[0], offsets[1]) = (offsets[1]!.DeepClone(), offsets[0]!.DeepClone()); break;
            case "offsets-float": offsets[0] = 0.5; break;
            case "offsets-short": offsets.RemoveAt(1); break;
            case "remove-field": entry.Remove(new[] { "dtype", "shape", "data_offsets" }[random.Next(3)]); break;
            case "entry-not-object": root[names[0]] = random.Next(2) == 0 ? "x" : new JsonArray(1, 2); break;
            case "metadata": root["__metadata__"] = random.Next(2) == 0 ? 5 : new JsonObject { ["k"] = new JsonArray(1) }; break;
            case "header-length": claimed = random.Next(3) switch { 0 => header.Length + 1 + random.Next(64), 1 => random.Next(header.Length), _ => long.MaxValue }; break;
        }
        var json = root.ToJsonString();
        if (edit == "duplicate")
        {
            // JSON allows a repeated key; the second "a.weight" points at c's bytes.
            int close = json.LastIndexOf('}');
            json = json[..close] + ",\"a.weight\":{\"dtype\":\"I64\",\"shape\":[4],\"data_offsets\":[58,90]}}";
        }
        var bytes = Encoding.UTF8.GetBytes(json).ToList();
        if (edit == "bad-utf8") bytes.InsertRange(json.IndexOf("a.weight", StringComparison.Ordinal), [0xC3, 0x28]);
        var newHeader = bytes.ToArray();
        return Assemble(newHeader, data, edit == "header-length" ? claimed : null);
    }

    /// <summary>Opens the file; when it opens, every tensor must read back exactly the bytes at its declared offsets.</summary>
    static void Check(byte[] file)
    {
        using var dir = new TempDir();
        var path = dir.File("f.safetensors");
        File.WriteAllBytes(path, file);
        using var f = SafeTensorsFile.Open(path);
        long dataStart = 8 + (long)BitConverter.ToUInt64(file);
        foreach (var (name, info) in f.Tensors)
        {
            using var t = f.Read(name);
            Assert.Equal(info.Shape, t.shape);
            var expected = file.AsSpan((int)(dataStart + info.Begin), (int)(info.End - info.Begin)).ToArray();
            Assert.Equal(expected, f.ReadBytes(name));
            using var contiguous = t.contiguous();
            Assert.Equal(expected, contiguous.bytes.ToArray());
        }
    }

    [Fact]
    public void Mutated_headers_are_refused_with_a_CheckpointException_or_read_exactly_what_they_declare()
    {
        var (header, data) = Valid();
        var report = Fuzz.Run("safetensors headers", seed: 15, cases: 400, TimeSpan.FromSeconds(10),
            (random, i) => MakeCase(random, i, header, data), Check, output, typeof(CheckpointException));
        Assert.True(report.Counts.GetValueOrDefault("accepted") > 0, report.ToString());
        Assert.True(report.Counts.GetValueOrDefault(nameof(CheckpointException)) > 100, report.ToString());
    }
}
