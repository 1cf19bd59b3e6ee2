using System.Text.Json;
using LlavaModal.Tests.Encoders.Vision.LlavaNext;
using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.Cli;

public class CliLlavaNextTests
{
    static int[] Ints(JsonElement e) => [.. e.EnumerateArray().Select(x => x.GetInt32())];

    [Fact]
    public void Generate_on_a_llava_next_folder_matches_the_reference_and_reports_each_inputs_tokens()
    {
        var image = LlavaNextReference.ImagePath("land");
        var r = CliRunner.Run("generate", "--model", LlavaNextReference.Directory, "--image", image, "--raw",
            "--prompt", LlavaNextReference.Prompt("d1"), "--max-new-tokens", "20", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var root = JsonDocument.Parse(r.Stdout).RootElement;
        var expected = LlavaNextReference.Case("d1.land");
        Assert.Equal(LlavaNextReference.Ints(expected.GetProperty("new_token_ids")), Ints(root.GetProperty("generated_ids")));
        Assert.Equal(LlavaNextReference.Ints(expected.GetProperty("prompt_input_ids_unexpanded")), Ints(root.GetProperty("prompt_ids")));
        Assert.Equal(expected.GetProperty("seq_len").GetInt32(), root.GetProperty("prompt_tokens").GetInt32());

        var input = Assert.Single(root.GetProperty("inputs").EnumerateArray());
        Assert.Equal("image", input.GetProperty("modality").GetString());
        Assert.Equal(image, input.GetProperty("source").GetString());
        Assert.Equal(expected.GetProperty("image_token_spans")[0][0].GetInt32(), input.GetProperty("start").GetInt32());
        Assert.Equal(expected.GetProperty("image_token_counts")[0].GetInt32(), input.GetProperty("tokens").GetInt32());
    }

    [Fact]
    public void Two_images_of_different_shapes_report_their_own_counts_in_prompt_order()
    {
        var expected = LlavaNextReference.Case("m2.wide3+land");
        var r = CliRunner.Run("generate", "--model", LlavaNextReference.Directory, "--raw", "--prompt", LlavaNextReference.Prompt("m2"),
            "--image", LlavaNextReference.ImagePath("wide3"), "--image", LlavaNextReference.ImagePath("land"), "--max-new-tokens", "20", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var root = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal(LlavaNextReference.Ints(expected.GetProperty("image_token_counts")), root.GetProperty("inputs").EnumerateArray().Select(i => i.GetProperty("tokens").GetInt32()));
        Assert.Equal(LlavaNextReference.Ints(expected.GetProperty("new_token_ids")), Ints(root.GetProperty("generated_ids")));
    }

    [Fact]
    public void The_chat_path_needs_no_flag_and_puts_the_images_tokens_where_its_placeholder_stands()
    {
        // The folder has no chat template: the default one (with its system sentence) wraps the message.
        var r = CliRunner.Run("generate", "--model", LlavaNextReference.Directory, "--image", LlavaNextReference.ImagePath("tall"),
            "--prompt", "Describe this picture in detail.", "--max-new-tokens", "3", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var root = JsonDocument.Parse(r.Stdout).RootElement;
        var promptIds = Ints(root.GetProperty("prompt_ids")).ToList();
        var input = Assert.Single(root.GetProperty("inputs").EnumerateArray());
        int tokens = LlavaNextReference.Preprocessing("tall").GetProperty("num_image_tokens").GetInt32();
        Assert.Equal(tokens, input.GetProperty("tokens").GetInt32());
        Assert.Equal(promptIds.IndexOf(510), input.GetProperty("start").GetInt32());
        Assert.Equal(promptIds.Count - 1 + tokens, root.GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public void A_text_only_prompt_reports_no_inputs()
    {
        var r = CliRunner.Run("generate", "--model", LlavaNextReference.Directory, "--prompt", "Hello", "--max-new-tokens", "2", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(0, JsonDocument.Parse(r.Stdout).RootElement.GetProperty("inputs").GetArrayLength());
    }
}
