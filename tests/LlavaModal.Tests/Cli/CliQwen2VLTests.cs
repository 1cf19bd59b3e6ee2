using System.Text.Json;
using LlavaModal.Tests.Encoders.Vision.Qwen2VL;
using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.Cli;

public class CliQwen2VLTests
{
    static int[] Ints(JsonElement e) => [.. e.EnumerateArray().Select(x => x.GetInt32())];

    [Fact]
    public void Generate_with_a_video_folder_and_an_image_matches_the_reference()
    {
        using var frames = new TempDir();
        Qwen2VLReference.WriteVideoFrames(frames.Path);
        var expected = Qwen2VLReference.Case("iv.tall+video0");
        var r = CliRunner.Run("generate", "--model", Qwen2VLReference.Directory, "--raw", "--prompt", expected.GetProperty("prompt_text").GetString()!,
            "--image", Qwen2VLReference.ImagePath("tall"), "--video", frames.Path, "--max-new-tokens", "20", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var root = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal(Qwen2VLReference.Ints(expected.GetProperty("new_token_ids")), Ints(root.GetProperty("generated_ids")));
        Assert.Equal(expected.GetProperty("seq_len").GetInt32(), root.GetProperty("prompt_tokens").GetInt32());
        var inputs = root.GetProperty("inputs").EnumerateArray().ToList();
        Assert.Equal(["video", "image"], inputs.Select(i => i.GetProperty("modality").GetString()));
        Assert.Equal([expected.GetProperty("video_token_count").GetInt32(), expected.GetProperty("image_token_counts")[0].GetInt32()], inputs.Select(i => i.GetProperty("tokens").GetInt32()));
    }

    [Fact]
    public void The_chat_path_frames_each_input_with_the_vision_markers()
    {
        var r = CliRunner.Run("generate", "--model", Qwen2VLReference.Directory, "--image", Qwen2VLReference.ImagePath("land"),
            "--prompt", "Describe this picture in detail.", "--max-new-tokens", "2", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var root = JsonDocument.Parse(r.Stdout).RootElement;
        var ids = Ints(root.GetProperty("prompt_ids")).ToList();
        int at = ids.IndexOf(512);
        Assert.Equal([510, 512, 511], ids.Skip(at - 1).Take(3));
        var input = Assert.Single(root.GetProperty("inputs").EnumerateArray());
        Assert.Equal(Qwen2VLReference.Preprocessing("land").GetProperty("num_image_tokens").GetInt32(), input.GetProperty("tokens").GetInt32());
        Assert.Equal(at, input.GetProperty("start").GetInt32());
    }
}
