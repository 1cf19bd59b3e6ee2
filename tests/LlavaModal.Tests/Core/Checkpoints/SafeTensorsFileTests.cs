using System.Text;
using LlavaModal.Abstractions;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Core.Checkpoints;

public class SafeTensorsFileTests
{
    static void WriteRaw(string path, string headerJson, byte[] data, long? claimedHeaderLength = null)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        using var s = File.Create(path);
        s.Write(BitConverter.GetBytes((ulong)(claimedHeaderLength ?? header.Length)));
        s.Write(header);
        s.Write(data);
    }

    static CheckpointException OpenFails(string path) => Assert.ThrowsAny<CheckpointException>(() => SafeTensorsFile.Open(path).Dispose());

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Int64)]
    [InlineData(ScalarType.Byte)]
    public void Round_trips_every_dtype(ScalarType type)
    {
        using var dir = new TempDir();
        using var t = (arange(24, dtype: ScalarType.Float32).reshape(2, 3, 4) * 1.5).to(type);
        using var scalar = tensor(7.0f);
        SafeTensorsWriter.Write(dir.File("a.safetensors"), [new("x", t), new("s", scalar)]);
        using var f = SafeTensorsFile.Open(dir.File("a.safetensors"));
        Assert.Equal(new long[] { 2, 3, 4 }, f.Tensors["x"].Shape);
        Assert.Equal(SafeTensorsDTypes.FromScalarType(type), f.Tensors["x"].DType);
        Assert.Equal("pt", f.Metadata["format"]);
        using var back = f.Read("x");
        Assert.True(back.eq(t).all().item<bool>());
        using var asFloat = f.Read("x", ScalarType.Float32);
        Assert.Equal(ScalarType.Float32, asFloat.dtype);
        using var dest = zeros(2, 3, 4, dtype: ScalarType.Float64);
        f.ReadInto("x", dest);
        Assert.True(dest.eq(t.to(ScalarType.Float64)).all().item<bool>());
        Assert.Equal(7.0f, f.Read("s").item<float>());
    }

    [Fact]
    public void Reads_the_reference_fixture_checkpoint()
    {
        using var f = SafeTensorsFile.Open(Path.Combine(Fixtures.LlamaTiny, "model.safetensors"));
        Assert.Equal(new long[] { 510, 64 }, f.Tensors["model.embed_tokens.weight"].Shape);
        Assert.Equal("F32", f.Tensors["lm_head.weight"].DType);
        Assert.Equal(4 * 9 + 3, f.Tensors.Count);
    }

    [Fact]
    public void ReadInto_rejects_a_wrong_shape_naming_the_tensor()
    {
        using var dir = new TempDir();
        SafeTensorsWriter.Write(dir.File("a.safetensors"), [new("w", ones(2, 3))]);
        using var f = SafeTensorsFile.Open(dir.File("a.safetensors"));
        var e = Assert.Throws<CheckpointException>(() => f.ReadInto("w", zeros(3, 2)));
        Assert.Contains("'w'", e.Message);
        Assert.Contains("[2, 3]", e.Message);
    }

    [Fact]
    public void File_shorter_than_the_length_prefix_is_refused()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("x.safetensors"), [1, 2, 3]);
        Assert.Contains("too short", OpenFails(dir.File("x.safetensors")).Message);
    }

    [Fact]
    public void Header_length_past_end_of_file_is_refused()
    {
        using var dir = new TempDir();
        WriteRaw(dir.File("x.safetensors"), "{}", [], claimedHeaderLength: 5000);
        Assert.Contains("past the end of the file", OpenFails(dir.File("x.safetensors")).Message);
    }

    [Fact]
    public void Absurd_header_size_is_refused_without_allocating_it()
    {
        using var dir = new TempDir();
        WriteRaw(dir.File("x.safetensors"), "{}", [], claimedHeaderLength: long.MaxValue / 2);
        Assert.Contains("limit", OpenFails(dir.File("x.safetensors")).Message);
    }

    [Fact]
    public void Header_that_is_not_json_is_refused()
    {
        using var dir = new TempDir();
        WriteRaw(dir.File("x.safetensors"), "{\"a\": [", []);
        Assert.Contains("not valid JSON", OpenFails(dir.File("x.safetensors")).Message);
    }

    [Fact]
    public void Unknown_dtype_is_refused_by_name()
    {
        using var dir = new TempDir();
        WriteRaw(dir.File("x.safetensors"), "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", [0, 0]);
        var e = OpenFails(dir.File("x.safetensors"));
        Assert.Contains("F8_E4M3", e.Message);
        Assert.Contains("'w'", e.Message);
    }

    [Fact]
    public void Offsets_out_of_range_are_refused()
    {
        using var dir = new TempDir();
        WriteRaw(dir.File("x.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[8]);
        Assert.Contains("past the end of the data", OpenFails(dir.File("x.safetensors")).Message);
    }

    [Fact]
    public void Overlapping_tensors_are_refused()
    {
        using var dir = new TempDir();
        WriteRaw(dir.File("x.safetensors"),
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12]);
        Assert.Contains("overlap", OpenFails(dir.File("x.safetensors")).Message);
    }

    [Fact]
    public void Shape_that_does_not_match_the_byte_span_is_refused()
    {
        using var dir = new TempDir();
        WriteRaw(dir.File("x.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", new byte[8]);
        var e = OpenFails(dir.File("x.safetensors"));
        Assert.Contains("needs 12 bytes", e.Message);
    }

    [Theory]
    [InlineData("[-1]")]
    [InlineData("[\"a\"]")]
    [InlineData("[4611686018427387904, 4611686018427387904]")]
    public void Invalid_or_overflowing_shapes_are_refused(string shape)
    {
        using var dir = new TempDir();
        WriteRaw(dir.File("x.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":[0,8]}}", new byte[8]);
        OpenFails(dir.File("x.safetensors"));
    }

    [Fact]
    public void Missing_file_names_the_path()
    {
        var e = OpenFails("/nonexistent/model.safetensors");
        Assert.Contains("/nonexistent/model.safetensors", e.Message);
    }
}
