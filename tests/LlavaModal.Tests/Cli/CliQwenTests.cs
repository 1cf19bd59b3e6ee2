using System.Text.Json;
using System.Text.Json.Nodes;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Tests.Support;
using LlavaModal.Tokenizers;

namespace LlavaModal.Tests.Cli;

/// <summary><c>llava-modal generate --model DIR</c> on the Qwen2 and LLaVA-Interleave fixtures, with no flag naming the family.</summary>
public class CliQwenTests
{
    static JsonElement Run(params string[] args)
    {
        var r = CliRunner.Run(args);
        Assert.True(r.ExitCode == 0, r.Stderr);
        return JsonDocument.Parse(r.Stdout).RootElement.Clone();
    }

    static IEnumerable<long> Ids(JsonElement root, string key) => root.GetProperty(key).EnumerateArray().Select(e => e.GetInt64());

    static JsonElement InterleaveCase(string name) => JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.LlavaInterleaveTiny, "expected", "index.json")))
        .RootElement.GetProperty("cases").GetProperty("single").GetProperty(name).Clone();

    static string Image(string file) => Path.Combine(Fixtures.LlavaInterleaveTiny, "images", file);

    [Fact]
    public void Generate_on_qwen2_tiny_gives_the_reference_ids()
    {
        var root = Run("generate", "--model", Fixtures.Qwen2Tiny, "--prompt", "12345 + 67890 = ?", "--raw", "--max-new-tokens", "20", "--json");
        using var expected = SafeTensorsFile.Open(Path.Combine(Fixtures.Qwen2Tiny, "expected", "expected.safetensors"));
        var sequence = Parity.Ids(expected.Read("q2.sequences"));
        Assert.Equal(sequence.Take(18), Ids(root, "prompt_ids"));
        Assert.Equal(sequence.Skip(18), Ids(root, "generated_ids"));
        // Chat mode works too (the folder has no template: the built-in default applies).
        Assert.Equal(3, Run("generate", "--model", Fixtures.Qwen2Tiny, "--prompt", "Hi", "--max-new-tokens", "3", "--json").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public void Generate_on_llava_interleave_tiny_with_two_images_gives_the_reference_ids_and_logits()
    {
        using var dir = new TempDir();
        var logitsFile = dir.File("logits.safetensors");
        var c = InterleaveCase("m2.port+square");
        var root = Run("generate", "--model", Fixtures.LlavaInterleaveTiny, "--raw", "--prompt", c.GetProperty("prompt_text").GetString()!,
            "--image", Image("portrait_72x144.png"), "--image", Image("square_128x128.png"), "--max-new-tokens", "20", "--json", "--logits-out", logitsFile);
        Assert.Equal(c.GetProperty("prompt_input_ids_unexpanded").EnumerateArray().Select(e => e.GetInt64()), Ids(root, "prompt_ids"));
        Assert.Equal(87, root.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(c.GetProperty("new_token_ids").EnumerateArray().Select(e => e.GetInt64()), Ids(root, "generated_ids"));
        using var ours = SafeTensorsFile.Open(logitsFile);
        using var expected = SafeTensorsFile.Open(Path.Combine(Fixtures.LlavaInterleaveTiny, "expected", "logits.safetensors"));
        Parity.AssertClose(ours.Read("logits"), expected.Read("m2.port+square.logits").squeeze(0), 1e-4, "--logits-out");
    }

    [Fact]
    public void Generate_renders_the_checkpoints_own_chat_template()
    {
        // The fixture with the llava-interleave processor template added as chat_template.json, as llava-hf folders ship it.
        using var dir = new TempDir();
        var model = Path.Combine(dir.Path, "model");
        Directory.CreateDirectory(model);
        foreach (var file in Directory.GetFiles(Fixtures.LlavaInterleaveTiny)) File.Copy(file, Path.Combine(model, Path.GetFileName(file)));
        var templates = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures.Root, "chat-templates", "templates.json")))!;
        File.WriteAllText(Path.Combine(model, "chat_template.json"), new JsonObject { ["chat_template"] = templates["llava-interleave-hf"]!["template"]!.GetValue<string>() }.ToJsonString());
        // Its render of one image and a question, by the reference Jinja implementation.
        var render = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures.Root, "chat-templates", "renders.json")))!["cases"]!.AsArray()
            .Single(n => n!["template"]!.GetValue<string>() == "llava-interleave-hf" && n["conversation"]!.GetValue<string>() == "image+text" && n["add_generation_prompt"]!.GetValue<bool>())!;
        var question = render["messages"]![0]!["content"]![1]!["text"]!.GetValue<string>();

        var root = Run("generate", "--model", model, "--image", Image("landscape_200x150.png"), "--prompt", question, "--max-new-tokens", "5", "--json");
        var tokenizer = HfTokenizer.FromPretrained(model);
        Assert.Equal(tokenizer.Encode(render["expected"]!.GetValue<string>()).Select(i => (long)i), Ids(root, "prompt_ids"));
        Assert.Equal(5, root.GetProperty("completion_tokens").GetInt32());
    }
}
