using LlavaModal.Abstractions;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Core.Checkpoints;

public class SafeTensorsCheckpointTests
{
    static void WriteSharded(string dir, string indexJson)
    {
        SafeTensorsWriter.Write(Path.Combine(dir, "model-00001-of-00002.safetensors"), [new("a.weight", ones(2, 2))]);
        SafeTensorsWriter.Write(Path.Combine(dir, "model-00002-of-00002.safetensors"), [new("b.weight", full(3, 2.0f))]);
        File.WriteAllText(Path.Combine(dir, SafeTensorsCheckpoint.IndexFileName), indexJson);
    }

    const string GoodIndex = """{"metadata":{},"weight_map":{"a.weight":"model-00001-of-00002.safetensors","b.weight":"model-00002-of-00002.safetensors"}}""";

    [Fact]
    public void Sharded_checkpoint_exposes_every_tensor()
    {
        using var dir = new TempDir();
        WriteSharded(dir.Path, GoodIndex);
        using var ckpt = SafeTensorsCheckpoint.Open(dir.Path);
        Assert.Equal(new[] { "a.weight", "b.weight" }, ckpt.Names.OrderBy(n => n));
        Assert.Equal(2.0f, ckpt.Read("b.weight")[1].item<float>());
    }

    [Fact]
    public void Missing_shard_is_named()
    {
        using var dir = new TempDir();
        WriteSharded(dir.Path, GoodIndex.Replace("model-00002-of-00002", "model-00009-of-00009"));
        var e = Assert.ThrowsAny<CheckpointException>(() => SafeTensorsCheckpoint.Open(dir.Path));
        Assert.Contains("model-00009-of-00009.safetensors", e.Message);
    }

    [Fact]
    public void Tensor_listed_for_the_wrong_shard_is_named()
    {
        using var dir = new TempDir();
        WriteSharded(dir.Path, GoodIndex.Replace("\"b.weight\":\"model-00002-of-00002.safetensors\"", "\"b.weight\":\"model-00001-of-00002.safetensors\""));
        var e = Assert.ThrowsAny<CheckpointException>(() => SafeTensorsCheckpoint.Open(dir.Path));
        Assert.Contains("'b.weight'", e.Message);
    }

    [Fact]
    public void Shard_path_escaping_the_folder_is_refused()
    {
        using var dir = new TempDir();
        WriteSharded(dir.Path, GoodIndex.Replace("model-00002-of-00002.safetensors\"}", "../../etc/passwd\"}"));
        Assert.ThrowsAny<CheckpointException>(() => SafeTensorsCheckpoint.Open(dir.Path));
    }

    [Fact]
    public void Folder_without_weights_says_what_it_expected()
    {
        using var dir = new TempDir();
        var e = Assert.ThrowsAny<CheckpointException>(() => SafeTensorsCheckpoint.Open(dir.Path));
        Assert.Contains("model.safetensors", e.Message);
    }

    sealed class Tiny : nn.Module
    {
        public Tiny() : base(nameof(Tiny)) { proj = nn.Linear(3, 2); RegisterComponents(); }
#pragma warning disable IDE1006 // checkpoint names
        public readonly nn.Module<Tensor, Tensor> proj;
#pragma warning restore IDE1006
    }

    [Fact]
    public void Loader_reports_missing_unexpected_and_wrong_shapes_together()
    {
        using var dir = new TempDir();
        SafeTensorsWriter.Write(dir.File("model.safetensors"), [new("m.proj.weight", ones(3, 2)), new("m.extra", ones(1))]);
        using var ckpt = SafeTensorsCheckpoint.Open(dir.Path);
        var e = Assert.Throws<CheckpointMismatchException>(() => StateDictLoader.Load(new Tiny(), ckpt, "m."));
        Assert.Equal(new[] { "m.proj.bias" }, e.Missing);
        Assert.Equal(new[] { "m.extra" }, e.Unexpected);
        Assert.Single(e.WrongShape);
        Assert.Contains("m.proj.weight", e.WrongShape[0]);
    }

    [Fact]
    public void Loader_fills_parameters_by_name()
    {
        using var dir = new TempDir();
        SafeTensorsWriter.Write(dir.File("model.safetensors"), [new("proj.weight", full(2, 3, 0.5f)), new("proj.bias", full(2, -1f)), new("other.x", ones(1))]);
        using var ckpt = SafeTensorsCheckpoint.Open(dir.Path);
        var m = new Tiny();
        StateDictLoader.Load(m, ckpt, ignore: n => n.StartsWith("other."));
        using var y = ((nn.Module<Tensor, Tensor>)m.proj).forward(ones(1, 3));
        Assert.Equal(new[] { 0.5f, 0.5f }, y.data<float>().ToArray());
    }
}
