using System.Text.Json;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.Cli;

public class CliImageTests
{
    static string Image(string name) => Path.Combine(Fixtures.Images, name);

    static JsonElement Case(string name) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.LlavaTinyA, "expected", "index.json"))).RootElement.GetProperty("cases").GetProperty("single").GetProperty(name);

    [Fact]
    public void Generate_with_an_image_matches_the_reference_and_reports_unexpanded_prompt_ids()
    {
        using var dir = new TempDir();
        var logitsFile = dir.File("logits.safetensors");
        var r = CliRunner.Run("generate", "--model", Fixtures.LlavaTinyA, "--image", Image("gradient_640x480.png"),
            "--prompt", "Describe this picture in detail.", "--max-new-tokens", "20", "--json", "--logits-out", logitsFile);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var root = JsonDocument.Parse(r.Stdout).RootElement;
        var promptIds = root.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToList();
        Assert.Equal(132, promptIds.Count);
        Assert.Equal(101, promptIds.IndexOf(510));
        Assert.Equal(707, root.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(Case("p1.img0.pad").GetProperty("new_token_ids").EnumerateArray().Select(e => e.GetInt32()),
            root.GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt32()));

        using var ours = SafeTensorsFile.Open(logitsFile);
        using var expected = SafeTensorsFile.Open(Path.Combine(Fixtures.LlavaTinyA, "expected", "logits.safetensors"));
        Assert.Equal(new long[] { 707, 512 }, ours.Tensors["logits"].Shape);
        Parity.AssertClose(ours.Read("logits"), expected.Read("p1.img0.pad.logits").squeeze(0), 1e-3, "--logits-out with an image");
    }

    [Fact]
    public void No_pad_gives_the_plain_processor_variant()
    {
        var r = CliRunner.Run("generate", "--model", Fixtures.LlavaTinyA, "--image", Image("gradient_640x480.png"), "--no-pad",
            "--prompt", "Describe this picture in detail.", "--max-new-tokens", "20", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(Case("p1.img0.plain").GetProperty("new_token_ids").EnumerateArray().Select(e => e.GetInt32()),
            JsonDocument.Parse(r.Stdout).RootElement.GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt32()));
    }

    [Fact]
    public void A_16_bit_kv_cache_keeps_the_reference_tokens_and_an_unknown_dtype_is_named()
    {
        var r = CliRunner.Run("generate", "--model", Fixtures.LlavaTinyA, "--image", Image("gradient_640x480.png"), "--kv-cache", "f16",
            "--prompt", "Describe this picture in detail.", "--max-new-tokens", "20", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(Case("p1.img0.pad").GetProperty("new_token_ids").EnumerateArray().Select(e => e.GetInt32()),
            JsonDocument.Parse(r.Stdout).RootElement.GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt32()));
        var bad = CliRunner.Run("generate", "--model", Fixtures.LlavaTinyA, "--kv-cache", "int8", "--prompt", "Hi");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--kv-cache 'int8' is not one of f32, bf16, f16", bad.Stderr);
    }

    [Fact]
    public void Raw_prompt_with_more_images_than_placeholders_is_refused()
    {
        var r = CliRunner.Run("generate", "--model", Fixtures.LlavaTinyA, "--raw", "--prompt", "USER: <image>\nHi ASSISTANT:",
            "--image", Image("tiny_7x5.png"), "--image", Image("gray_320x240.png"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("1 <image> placeholder but 2 image inputs", r.Stderr);
    }

    [Theory]
    [InlineData("missing.png", "file not found")]
    [InlineData("README.md", "README.md")]
    public void Unreadable_images_are_named(string file, string expected)
    {
        var path = file == "README.md" ? Path.Combine(Fixtures.Root, "README.md") : Path.Combine(Fixtures.Images, file);
        var r = CliRunner.Run("generate", "--model", Fixtures.LlavaTinyA, "--image", path, "--prompt", "What is this?");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(expected, r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    }
}
