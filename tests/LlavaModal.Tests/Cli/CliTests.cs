using System.Text.Json;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.Cli;

public class CliTests
{
    const string Q0 = "The quick brown fox jumps over the lazy dog.";

    [Fact]
    public void A_prompt_prefilled_a_few_positions_at_a_time_gives_the_reference_ids_and_a_piece_below_one_is_refused()
    {
        var r = CliRunner.Run("generate", "--model", Fixtures.LlamaTiny, "--prompt", Q0, "--raw", "--max-new-tokens", "20", "--json", "--prefill-chunk-tokens", "4");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        using var expected = SafeTensorsFile.Open(Path.Combine(Fixtures.LlamaTiny, "expected", "expected.safetensors"));
        Assert.Equal(Parity.Ids(expected.Read("q0.sequences")).Skip(27), doc.RootElement.GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt64()));
        var bad = CliRunner.Run("generate", "--model", Fixtures.LlamaTiny, "--prompt", Q0, "--prefill-chunk-tokens", "0");
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("--prefill-chunk-tokens must be at least 1, got 0", bad.Stderr);
    }

    [Fact]
    public void Generate_json_reports_the_reference_ids_and_all_fields()
    {
        var r = CliRunner.Run("generate", "--model", Fixtures.LlamaTiny, "--prompt", Q0, "--raw", "--max-new-tokens", "20", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        using var expected = SafeTensorsFile.Open(Path.Combine(Fixtures.LlamaTiny, "expected", "expected.safetensors"));
        var sequence = Parity.Ids(expected.Read("q0.sequences"));
        Assert.Equal(sequence.Take(27), root.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(sequence.Skip(27), root.GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal("length", root.GetProperty("finish_reason").GetString());
        Assert.Equal(27, root.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(20, root.GetProperty("completion_tokens").GetInt32());
        Assert.True(root.GetProperty("prefill_ms").GetDouble() > 0);
        Assert.True(root.GetProperty("decode_tokens_per_s").GetDouble() > 0);
        var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.LlamaTiny, "expected", "index.json")));
        Assert.Equal(index.RootElement.GetProperty("cases").GetProperty("q0").GetProperty("decoded_new").GetString(), root.GetProperty("text").GetString());
    }

    [Fact]
    public void Logits_out_writes_the_prompt_forward_pass()
    {
        using var dir = new TempDir();
        var file = dir.File("logits.safetensors");
        var r = CliRunner.Run("generate", "--model", Fixtures.LlamaTiny, "--prompt", Q0, "--raw", "--max-new-tokens", "1", "--logits-out", file);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var ours = SafeTensorsFile.Open(file);
        using var expected = SafeTensorsFile.Open(Path.Combine(Fixtures.LlamaTiny, "expected", "expected.safetensors"));
        Assert.Equal(new long[] { 27, 510 }, ours.Tensors["logits"].Shape);
        Parity.AssertClose(ours.Read("logits"), expected.Read("q0.logits").squeeze(0), 1e-4, "--logits-out");
    }

    [Fact]
    public void Chat_template_wraps_the_prompt_unless_raw()
    {
        var chat = CliRunner.Run("generate", "--model", Fixtures.LlamaTiny, "--prompt", "Hi", "--max-new-tokens", "1", "--json");
        var raw = CliRunner.Run("generate", "--model", Fixtures.LlamaTiny, "--prompt", "Hi", "--raw", "--max-new-tokens", "1", "--json");
        Assert.True(chat.ExitCode == 0, chat.Stderr);
        int Count(string json) => JsonDocument.Parse(json).RootElement.GetProperty("prompt_ids").GetArrayLength();
        Assert.True(Count(chat.Stdout) > Count(raw.Stdout) + 20, "the vicuna system sentence and roles should be added");
    }

    [Fact]
    public void Init_writes_a_sharded_checkpoint_that_generate_loads()
    {
        using var dir = new TempDir();
        var model = Path.Combine(dir.Path, "m");
        var init = CliRunner.Run("init", "--preset", "tiny", "--out", model, "--seed", "3", "--max-shard-mb", "0.3");
        Assert.True(init.ExitCode == 0, init.Stderr);
        Assert.True(File.Exists(Path.Combine(model, SafeTensorsCheckpoint.IndexFileName)));
        Assert.True(Directory.GetFiles(model, "model-*-of-*.safetensors").Length > 1);
        var gen = CliRunner.Run("generate", "--model", model, "--prompt", "Hello", "--max-new-tokens", "5", "--json");
        Assert.True(gen.ExitCode == 0, gen.Stderr);
        Assert.Equal(5, JsonDocument.Parse(gen.Stdout).RootElement.GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public void Init_writes_a_llava_onevision_folder_that_answers_about_an_image()
    {
        using var dir = new TempDir();
        var model = dir.File("ov");
        var init = CliRunner.Run("init", "--preset", "onevision-tiny", "--out", model, "--seed", "3");
        Assert.True(init.ExitCode == 0, init.Stderr);
        using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(model, "config.json"))))
        {
            Assert.Equal("llava_onevision", config.RootElement.GetProperty("model_type").GetString());
            Assert.Equal(36, config.RootElement.GetProperty("image_grid_pinpoints").GetArrayLength());
        }
        var image = Path.Combine(Fixtures.Root, "llava-onevision-tiny", "images", "landscape_200x150.png");
        var gen = CliRunner.Run("generate", "--model", model, "--image", image, "--prompt", "Describe it.", "--max-new-tokens", "5", "--json");
        Assert.True(gen.ExitCode == 0, gen.Stderr);
        var root = JsonDocument.Parse(gen.Stdout).RootElement;
        Assert.Equal(5, root.GetProperty("completion_tokens").GetInt32());
        // AnyRes: the base tile's 16 tokens plus the tiles', with newlines.
        Assert.True(root.GetProperty("inputs")[0].GetProperty("tokens").GetInt32() > 16, gen.Stdout);
    }

    [Fact]
    public void The_onevision_preset_has_the_published_decoder_size()
    {
        // Qwen2-0.5B (tied embeddings) has 494,032,768 parameters; the preset's decoder must be that shape exactly.
        var shape = LlavaModal.Cli.OnevisionPresets.All["onevision-0.5b"];
        Assert.Equal(494_032_768, LlavaModal.Cli.Commands.InitCommand.Parameters(shape.Text));
    }

    [Fact]
    public void Init_refuses_a_non_empty_folder_and_leaves_it_untouched()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("keep.txt"), "mine");
        var r = CliRunner.Run("init", "--preset", "tiny", "--out", dir.Path);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("not empty", r.Stderr);
        Assert.Equal(new[] { "keep.txt" }, Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("missing model", "error: /nonexistent", "generate", "--model", "/nonexistent", "--prompt", "x")]
    [InlineData("bad preset", "--preset 'huge'", "init", "--preset", "huge", "--out", "/tmp/never-written")]
    [InlineData("bad top-p", "--top-p", "generate", "--model", "FIXTURE", "--prompt", "x", "--top-p", "0")]
    [InlineData("bad dtype", "--dtype", "generate", "--model", "FIXTURE", "--prompt", "x", "--dtype", "f8")]
    [InlineData("system with raw", "--system", "generate", "--model", "FIXTURE", "--prompt", "x", "--raw", "--system", "s")]
    public void Errors_go_to_stderr_with_a_nonzero_exit(string _, string expected, params string[] args)
    {
        var r = CliRunner.Run(args.Select(a => a == "FIXTURE" ? Fixtures.LlamaTiny : a).ToArray());
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains(expected, r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [Theory]
    [InlineData("generate")]
    [InlineData("init")]
    public void Every_command_has_help(string command)
    {
        var r = CliRunner.Run(command, "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("Usage:", r.Stdout);
    }
}
