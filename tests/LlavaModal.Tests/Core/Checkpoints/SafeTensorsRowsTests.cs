using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Core.Checkpoints;

/// <summary>Rows of a stored table read from the file after loading (<see cref="SafeTensorsFile.OpenRows"/>).</summary>
public class SafeTensorsRowsTests
{
    static Tensor Table(ScalarType type) => (arange(7 * 5, dtype: ScalarType.Float32).reshape(7, 5) * 0.25 - 3).to(type);

    static Tensor ReadRows(ITensorRows rows, long[] ids)
    {
        var found = empty([ids.Length, rows.Columns], rows.StoredType);
        rows.Read(ids, found.bytes);
        return found;
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void Rows_are_the_stored_rows_in_the_asked_order(ScalarType type)
    {
        using var dir = new TempDir();
        using var table = Table(type);
        using var bias = ones(3);
        SafeTensorsWriter.Write(dir.File("m.safetensors"), [new("bias", bias), new("table", table)]);
        using var file = SafeTensorsFile.Open(dir.File("m.safetensors"));
        using var rows = file.OpenRows("table")!;
        Assert.Equal((type, 7L, 5L), (rows.StoredType, rows.Rows, rows.Columns));
        // Adjacent (read as one run), repeated, reversed and single rows.
        long[] ids = [2, 3, 4, 4, 0, 6, 5, 1];
        using var found = ReadRows(rows, ids);
        using var expected = table.index_select(0, tensor(ids));
        Assert.True(found.eq(expected).all().item<bool>());
        Assert.Null(file.OpenRows("bias"));
    }

    [Fact]
    public void Rows_stay_readable_after_the_checkpoint_is_disposed_and_close_with_the_last_reader()
    {
        using var dir = new TempDir();
        using var table = Table(ScalarType.Float32);
        SafeTensorsWriter.Write(dir.File(SafeTensorsCheckpoint.SingleFileName), [new("model.embed_tokens.weight", table)]);
        var checkpoint = SafeTensorsCheckpoint.Open(dir.Path);
        var rows = checkpoint.OpenRows("model.embed_tokens.weight")!;
        checkpoint.Dispose();
        using (var found = ReadRows(rows, [6, 1]))
            Assert.True(found.eq(table.index_select(0, tensor(new long[] { 6, 1 }))).all().item<bool>());
        Assert.Throws<ObjectDisposedException>(() => checkpoint.Read("model.embed_tokens.weight").Dispose());
        rows.Dispose();
        rows.Dispose();
        Assert.Throws<ObjectDisposedException>(() => ReadRows(rows, [0]).Dispose());
    }

    [Fact]
    public void Bad_rows_and_destinations_are_refused_by_name()
    {
        using var dir = new TempDir();
        using var table = Table(ScalarType.Float32);
        SafeTensorsWriter.Write(dir.File("m.safetensors"), [new("table", table)]);
        using var file = SafeTensorsFile.Open(dir.File("m.safetensors"));
        using var rows = file.OpenRows("table")!;
        foreach (var bad in new long[] { 7, -1, long.MaxValue })
        {
            var error = Assert.Throws<ArgumentOutOfRangeException>(() => ReadRows(rows, [0, bad]).Dispose());
            Assert.Contains($"row {bad} is outside the 7 rows", error.Message);
            Assert.Contains("m.safetensors", error.Message);
        }
        var small = new byte[4 * 5];
        Assert.Throws<ArgumentException>(() => rows.Read([0, 1], small));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_file_rewritten_in_place_after_opening_is_refused_not_read(bool truncate)
    {
        using var dir = new TempDir();
        using var table = Table(ScalarType.Float32);
        var path = dir.File("m.safetensors");
        SafeTensorsWriter.Write(path, [new("table", table)]);
        using var file = SafeTensorsFile.Open(path);
        using var rows = file.OpenRows("table")!;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            if (truncate) stream.SetLength(stream.Length - 20);
            else { stream.Seek(-4, SeekOrigin.End); stream.Write(new byte[4]); }
        }
        // Same length, other bytes: the modification time tells (set apart explicitly: a fast write may share the old time).
        if (!truncate) File.SetLastWriteTimeUtc(path, File.GetLastWriteTimeUtc(path).AddSeconds(5));
        var error = Assert.Throws<CheckpointException>(() => ReadRows(rows, [6]).Dispose());
        Assert.Contains("changed after the model loaded", error.Message);
        Assert.Contains(path, error.Message);
    }
}
