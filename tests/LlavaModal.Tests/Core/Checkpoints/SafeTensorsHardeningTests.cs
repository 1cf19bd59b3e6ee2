using System.Text;
using LlavaModal.Abstractions;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Core.Checkpoints;

/// <summary>
/// Issue 15, 4 and 5: <c>data_offsets</c> given as strings and a tensor name that is not UTF-8 escaped as untyped
/// exceptions; a tensor name given twice silently kept the last entry (and skipped the overlap check); F32 bytes relabelled
/// I32 were loaded and converted into garbage weights.
/// </summary>
public class SafeTensorsHardeningTests
{
    static string Write(TempDir dir, byte[] header, int dataBytes)
    {
        var path = dir.File("w.safetensors");
        using var s = File.Create(path);
        s.Write(BitConverter.GetBytes((ulong)header.Length));
        s.Write(header);
        s.Write(new byte[dataBytes]);
        return path;
    }

    static CheckpointException Refused(string header, int dataBytes = 16)
    {
        using var dir = new TempDir();
        var path = Write(dir, Encoding.UTF8.GetBytes(header), dataBytes);
        return Assert.ThrowsAny<CheckpointException>(() => SafeTensorsFile.Open(path).Dispose());
    }

    [Theory]
    [InlineData("""{"x":{"dtype":"F32","shape":[4],"data_offsets":["0","16"]}}""")]
    [InlineData("""{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,"16"]}}""")]
    [InlineData("""{"x":{"dtype":"F32","shape":[4],"data_offsets":[null,16]}}""")]
    [InlineData("""{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16.0]}}""")]
    public void Data_offsets_that_are_not_integers_are_a_CheckpointException(string header) =>
        Assert.Contains("data_offsets", Refused(header).Message);

    [Fact]
    public void A_tensor_name_that_is_not_UTF8_is_a_CheckpointException()
    {
        using var dir = new TempDir();
        var header = Encoding.UTF8.GetBytes("""{"xx":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""");
        header[3] = 0xC3; // "x\xC3" + '"': a lead byte without its continuation
        var path = Write(dir, header, 16);
        Assert.Contains("UTF-8", Assert.ThrowsAny<CheckpointException>(() => SafeTensorsFile.Open(path).Dispose()).Message);
    }

    [Fact]
    public void A_tensor_name_given_twice_is_refused_naming_it()
    {
        var e = Refused("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}""");
        Assert.Contains("'w' appears twice", e.Message);
    }

    [Fact]
    public void A_dtype_whose_element_size_does_not_fit_the_bytes_is_refused() =>
        Assert.Contains("needs 32 bytes", Refused("""{"w":{"dtype":"F64","shape":[4],"data_offsets":[0,16]}}""").Message);

    [Fact]
    public void Integer_data_is_never_loaded_into_floating_point_weights()
    {
        using var dir = new TempDir();
        using var module = TorchSharp.torch.nn.Linear(2, 2, hasBias: false);
        using var floats = tensor(new[] { 1.5f, -2f, 3.25f, 0f }).reshape(2, 2);
        var path = dir.File(SafeTensorsCheckpoint.SingleFileName);
        SafeTensorsWriter.Write(path, [new("weight", floats)]);
        // Relabel the same 16 bytes as I32: the size still matches, the meaning does not.
        var text = Encoding.Latin1.GetString(File.ReadAllBytes(path)).Replace("\"F32\"", "\"I32\"", StringComparison.Ordinal);
        File.WriteAllBytes(path, Encoding.Latin1.GetBytes(text));
        using var weights = SafeTensorsCheckpoint.Open(dir.Path);
        var e = Assert.Throws<CheckpointMismatchException>(() => StateDictLoader.Load(module, weights));
        Assert.Contains("stores Int32", e.Message);
    }

    [Fact]
    public void A_weight_map_entry_that_is_not_a_string_is_a_CheckpointException()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File(SafeTensorsCheckpoint.IndexFileName), """{"weight_map":{"w":5}}""");
        Assert.Contains("weight_map", Assert.ThrowsAny<CheckpointException>(() => SafeTensorsCheckpoint.Open(dir.Path).Dispose()).Message);
    }
}
