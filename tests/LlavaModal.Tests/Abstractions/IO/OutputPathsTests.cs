using LlavaModal.Abstractions.IO;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Abstractions.IO;

/// <summary>
/// Issue 15, 2 and 7: path guards compared strings, so a symbolic link in either direction reached an input; any existing
/// file was replaced without a word; and the temporary file name (<c>.{name}.{guid}.tmp</c>) passed the 255-byte limit
/// for a valid 242-character output name.
/// </summary>
public class OutputPathsTests
{
    [Fact]
    public void Resolve_follows_links_in_every_component_and_applies_dotdot_after_them()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("real/sub"));
        File.CreateSymbolicLink(dir.File("link"), dir.File("real/sub"));
        Assert.Equal(dir.File("real/sub/x"), OutputPaths.Resolve(dir.File("link/x")));
        // POSIX: "link/.." is the parent of where the link points, not the folder holding the link.
        Assert.Equal(dir.File("real/x"), OutputPaths.Resolve(dir.File("link/../x")));
        File.CreateSymbolicLink(dir.File("loop"), dir.File("loop"));
        Assert.Throws<IOException>(() => OutputPaths.Resolve(dir.File("loop/x")));
    }

    [Fact]
    public void A_file_output_that_is_an_input_by_any_spelling_is_refused_even_with_overwrite()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("model"));
        File.WriteAllText(dir.File("model/model.safetensors"), "weights");
        File.WriteAllText(dir.File("img.png"), "image");
        File.CreateSymbolicLink(dir.File("model-link"), dir.File("model"));
        File.CreateSymbolicLink(dir.File("img-link.png"), dir.File("img.png"));
        using (var ln = System.Diagnostics.Process.Start("ln", [dir.File("img.png"), dir.File("img-hard.png")])) ln.WaitForExit();

        string[] inputs = [dir.File("model"), dir.File("img.png")];
        foreach (var output in new[] { dir.File("img.png"), dir.File("img-link.png"), dir.File("img-hard.png"), dir.File("model-link/model.safetensors"),
                     dir.File("model/new.safetensors"), dir.File("model/../img.png") })
        {
            var e = Assert.Throws<ArgumentException>(() => OutputPaths.CheckFile(output, inputs, overwrite: true, "--logits-out"));
            Assert.Contains("--logits-out", e.Message);
        }
        // The other direction: the input is given through the link, the output by its real path.
        Assert.Throws<ArgumentException>(() => OutputPaths.CheckFile(dir.File("model/model.safetensors"), [dir.File("model-link")], overwrite: true));
        Assert.Equal("weights", File.ReadAllText(dir.File("model/model.safetensors")));
    }

    [Fact]
    public void An_existing_file_needs_overwrite_and_a_new_one_does_not()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("old.safetensors"), "mine");
        var e = Assert.Throws<ArgumentException>(() => OutputPaths.CheckFile(dir.File("old.safetensors"), [], overwrite: false, "--out"));
        Assert.Contains("--force", e.Message);
        Assert.Equal(dir.File("old.safetensors"), OutputPaths.CheckFile(dir.File("old.safetensors"), [], overwrite: true, "--out"));
        Assert.Equal(dir.File("new.safetensors"), OutputPaths.CheckFile(dir.File("new.safetensors"), [], overwrite: false, "--out"));
        Assert.Throws<ArgumentException>(() => OutputPaths.CheckFile(dir.Path, [], overwrite: true));
        Assert.Throws<ArgumentException>(() => OutputPaths.CheckFile("/dev/null", [], overwrite: true));
    }

    [Fact]
    public void A_folder_output_must_not_overlap_an_input_in_either_direction()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("model"));
        File.WriteAllText(dir.File("model/config.json"), "{}");
        File.CreateSymbolicLink(dir.File("out-link"), dir.File("model"));
        Assert.Throws<ArgumentException>(() => OutputPaths.CheckFolder(dir.File("out-link"), [dir.File("model")], overwrite: true));
        Assert.Throws<ArgumentException>(() => OutputPaths.CheckFolder(dir.File("out-link/sub"), [dir.File("model")], overwrite: true));
        Assert.Throws<ArgumentException>(() => OutputPaths.CheckFolder(dir.Path, [dir.File("model")], overwrite: true));
        Assert.Contains("not empty", Assert.Throws<ArgumentException>(() => OutputPaths.CheckFolder(dir.File("model"), [], overwrite: false)).Message);
        Assert.Equal(dir.File("fresh"), OutputPaths.CheckFolder(dir.File("fresh"), [dir.File("model")], overwrite: false));
    }

    [Fact]
    public void A_242_character_output_name_is_written_through_a_short_temporary_name()
    {
        using var dir = new TempDir();
        var path = dir.File(new string('l', 230) + ".safetensors");
        Assert.Equal(242, Path.GetFileName(path).Length);
        using var t = ones(2, 3);
        SafeTensorsWriter.Write(path, [new("logits", t)]);
        using var f = SafeTensorsFile.Open(path);
        Assert.Equal(new long[] { 2, 3 }, f.Tensors["logits"].Shape);
        Assert.Single(Directory.GetFiles(dir.Path));
    }
}
