using System.Text.Json;
using LlavaModal.Tests.Encoders.Vision.LlavaOnevision;
using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.Cli;

public class CliOnevisionTests
{
    static int[] Ints(JsonElement e) => [.. e.EnumerateArray().Select(x => x.GetInt32())];

    [Fact]
    public void Generate_with_an_image_and_a_video_folder_matches_the_reference_and_reports_both_inputs()
    {
        using var frames = new TempDir();
        OnevisionReference.WriteVideoFrames(frames.Path);
        var expected = OnevisionReference.Case("iv.wide2+video0");
        var image = OnevisionReference.ImagePath("wide2");
        var r = CliRunner.Run("generate", "--model", OnevisionReference.Directory, "--raw", "--prompt", expected.GetProperty("prompt_text").GetString()!,
            "--video", frames.Path, "--image", image, "--max-new-tokens", "20", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var root = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal(OnevisionReference.Ints(expected.GetProperty("new_token_ids")), Ints(root.GetProperty("generated_ids")));
        Assert.Equal(expected.GetProperty("seq_len").GetInt32(), root.GetProperty("prompt_tokens").GetInt32());
        var inputs = root.GetProperty("inputs").EnumerateArray().ToList();
        Assert.Equal(["image", "video"], inputs.Select(i => i.GetProperty("modality").GetString()));
        Assert.Equal([image, frames.Path], inputs.Select(i => i.GetProperty("source").GetString()));
        Assert.Equal([expected.GetProperty("image_token_spans")[0][0].GetInt32(), expected.GetProperty("video_token_span")[0].GetInt32()], inputs.Select(i => i.GetProperty("start").GetInt32()));
        Assert.Equal([expected.GetProperty("image_token_counts")[0].GetInt32(), expected.GetProperty("video_token_count").GetInt32()], inputs.Select(i => i.GetProperty("tokens").GetInt32()));
    }

    [Fact]
    public void A_video_without_a_placeholder_goes_before_the_message_and_video_frames_samples_it()
    {
        using var frames = new TempDir();
        OnevisionReference.WriteVideoFrames(frames.Path);
        var r = CliRunner.Run("generate", "--model", OnevisionReference.Directory, "--video", frames.Path, "--video-frames", "3",
            "--prompt", "What happens in this video?", "--max-new-tokens", "2", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var root = JsonDocument.Parse(r.Stdout).RootElement;
        var input = Assert.Single(root.GetProperty("inputs").EnumerateArray());
        Assert.Equal(3 * 4 + 1, input.GetProperty("tokens").GetInt32());
        Assert.Equal(Ints(root.GetProperty("prompt_ids")).ToList().IndexOf(512), input.GetProperty("start").GetInt32());
    }

    [Fact]
    public void An_animated_gif_is_a_video_and_video_frames_samples_it_in_generate_and_chat()
    {
        using var dir = new TempDir();
        using (var gif = new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.Rgb24>(24, 24, new SixLabors.ImageSharp.PixelFormats.Rgb24(200, 10, 10)))
        {
            for (int i = 1; i < 6; i++)
                gif.Frames.AddFrame(new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.Rgb24>(24, 24, new SixLabors.ImageSharp.PixelFormats.Rgb24((byte)(40 * i), 90, 10)).Frames.RootFrame);
            SixLabors.ImageSharp.ImageExtensions.SaveAsGif(gif, dir.File("clip.gif"));
        }
        var r = CliRunner.Run("generate", "--model", OnevisionReference.Directory, "--video", dir.File("clip.gif"), "--video-frames", "3",
            "--prompt", "What happens in this video?", "--max-new-tokens", "2", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var input = Assert.Single(JsonDocument.Parse(r.Stdout).RootElement.GetProperty("inputs").EnumerateArray());
        Assert.Equal("video", input.GetProperty("modality").GetString());
        Assert.Equal(3 * 4 + 1, input.GetProperty("tokens").GetInt32());

        var chat = CliRunner.RunWithInput("What happens?\n", "chat", "--model", OnevisionReference.Directory, "--video", dir.File("clip.gif"), "--max-new-tokens", "2");
        Assert.True(chat.ExitCode == 0, chat.Stderr);
        Assert.False(string.IsNullOrWhiteSpace(chat.Stdout));
    }

    [Fact]
    public void Without_ffmpeg_a_video_file_is_refused_saying_how_to_configure_it_or_give_its_frames()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("clip.mp4"), [0, 0, 0, 24, (byte)'f', (byte)'t', (byte)'y', (byte)'p']);
        var r = CliRunner.RunWithEnvironment(new Dictionary<string, string?> { ["PATH"] = dir.Path }, "generate", "--model", OnevisionReference.Directory,
            "--video", dir.File("clip.mp4"), "--prompt", "What happens?", "--max-new-tokens", "2");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("clip.mp4", r.Stderr);
        Assert.Contains("no ffmpeg executable was found on the PATH", r.Stderr);
        Assert.Contains("--ffmpeg", r.Stderr);
        Assert.Contains("frames", r.Stderr);
    }

    [Fact]
    public void A_video_file_goes_through_the_ffmpeg_given_and_video_frames_samples_it()
    {
        using var fake = new Encoders.Vision.Video.FakeFfmpeg();
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("clip.webm"), [0x1A, 0x45, 0xDF, 0xA3]);
        var r = CliRunner.Run("generate", "--model", OnevisionReference.Directory, "--video", dir.File("clip.webm"), "--ffmpeg", fake.Ffmpeg,
            "--video-frames", "3", "--prompt", "What happens?", "--max-new-tokens", "2", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var input = JsonDocument.Parse(r.Stdout).RootElement.GetProperty("inputs")[0];
        Assert.Equal("video", input.GetProperty("modality").GetString());
        Assert.Equal(3 * 4 + 1, input.GetProperty("tokens").GetInt32());
        Assert.Contains("select=eq(n\\,0)+eq(n\\,10)+eq(n\\,20)", fake.Arguments("ffmpeg")!);

        var chat = CliRunner.RunWithInput("What happens?\n", "chat", "--model", OnevisionReference.Directory, "--video", dir.File("clip.webm"), "--ffmpeg", fake.Ffmpeg, "--max-new-tokens", "2");
        Assert.True(chat.ExitCode == 0, chat.Stderr);
        Assert.False(string.IsNullOrWhiteSpace(chat.Stdout));
    }
}
