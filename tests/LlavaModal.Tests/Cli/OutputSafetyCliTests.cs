using System.Security.Cryptography;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.Cli;

/// <summary>
/// Issue 15, 2 and 7, end to end: <c>generate --image img.png --logits-out img.png</c> replaced the image;
/// <c>--logits-out</c> through a symlinked model folder (either direction) replaced <c>model.safetensors</c>;
/// <c>encode --out</c> through a symlink overwrote its input image; <c>--logits-out</c> onto any existing file replaced it
/// without a word; <c>attach-audio --out</c> through a symlink wrote inside the input model folder; a valid 242-character
/// <c>--logits-out</c> name failed; <c>--device cuda</c> on a CPU build contradicted itself.
/// </summary>
public class OutputSafetyCliTests
{
    static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    static (TempDir Dir, string Model, string Image) Setup()
    {
        var dir = new TempDir();
        var model = dir.File("model");
        Directory.CreateDirectory(model);
        foreach (var file in Directory.GetFiles(Fixtures.LlavaTinyA)) File.Copy(file, Path.Combine(model, Path.GetFileName(file)));
        var image = dir.File("img.png");
        File.Copy(Path.Combine(Fixtures.Images, "tiny_7x5.png"), image);
        return (dir, model, image);
    }

    static CliRunner.Result Generate(string model, string image, string logitsOut, params string[] extra) =>
        CliRunner.Run(["generate", "--model", model, "--image", image, "--prompt", "What is it?", "--max-new-tokens", "1", "--json", "--logits-out", logitsOut, .. extra]);

    [Fact]
    public void Logits_never_replace_an_input_by_any_path()
    {
        var (dir, model, image) = Setup();
        using var _ = dir;
        File.CreateSymbolicLink(dir.File("model-link"), model);
        var weights = Path.Combine(model, "model.safetensors");
        var (imageHash, weightsHash) = (Hash(image), Hash(weights));

        foreach (var (m, target) in new[] { (model, image), (dir.File("model-link"), weights), (model, Path.Combine(dir.File("model-link"), "model.safetensors")) })
        {
            var r = Generate(m, image, target, "--force");
            Assert.Equal(2, r.ExitCode);
            Assert.Contains("--logits-out", r.Stderr);
            Assert.Contains("input", r.Stderr);
        }
        Assert.Equal(imageHash, Hash(image));
        Assert.Equal(weightsHash, Hash(weights));
    }

    [Fact]
    public void An_existing_file_is_replaced_only_with_force_and_a_242_character_name_works()
    {
        var (dir, model, image) = Setup();
        using var _ = dir;
        var existing = dir.File("mine.safetensors");
        File.WriteAllText(existing, "keep me");
        var refused = Generate(model, image, existing);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("--force", refused.Stderr);
        Assert.Equal("keep me", File.ReadAllText(existing));

        var forced = Generate(model, image, existing, "--force");
        Assert.True(forced.ExitCode == 0, forced.Stderr);
        using (var f = SafeTensorsFile.Open(existing)) Assert.Contains("logits", f.Tensors.Keys);

        var longName = dir.File(new string('x', 230) + ".safetensors");
        var r = Generate(model, image, longName);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.True(File.Exists(longName));
    }

    [Fact]
    public void Encode_out_through_a_symlink_to_its_input_is_refused()
    {
        var (dir, model, image) = Setup();
        using var _ = dir;
        File.CreateSymbolicLink(dir.File("out.safetensors"), image);
        var hash = Hash(image);
        var r = CliRunner.Run("encode", "--model", model, "--image", image, "--out", dir.File("out.safetensors"), "--force");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("input", r.Stderr);
        Assert.Equal(hash, Hash(image));
    }

    [Fact]
    public void Attach_audio_out_through_a_symlink_into_the_model_is_refused()
    {
        var (dir, model, _) = Setup();
        using var __ = dir;
        File.CreateSymbolicLink(dir.File("out"), model);
        var before = Directory.GetFiles(model).Length;
        var r = CliRunner.Run("attach-audio", "--model", model, "--encoder", Path.Combine(Fixtures.Root, "whisper-encoder-tiny"), "--out", dir.File("out/audio"), "--force");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("input", r.Stderr);
        Assert.Equal(before, Directory.GetFiles(model).Length);
        Assert.False(Directory.Exists(Path.Combine(model, "audio")));
    }

    [Fact]
    public void Device_cuda_on_a_cpu_build_says_what_is_missing_and_how_to_build_it()
    {
        var r = CliRunner.Run("generate", "--model", Fixtures.LlamaTiny, "--prompt", "Hi", "--device", "cuda", "--max-new-tokens", "1");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("TorchSharp-cuda-linux", r.Stderr);
        Assert.Contains("-p:TorchDevice=cuda", r.Stderr);
    }
}
