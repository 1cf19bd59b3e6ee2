using System.Text.Json.Nodes;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Encoders.Vision.Qwen2VL;
using LlavaModal.Encoders.Vision.Video;
using LlavaModal.Multimodal;
using LlavaModal.Tests.Encoders.Vision.LlavaNextVideo;
using LlavaModal.Tests.Support;
using LlavaModal.Tokenizers.Chat;

namespace LlavaModal.Tests.Encoders.Vision.Qwen2VL;

/// <summary><c>qwen_vl_utils</c>' video frame budget (opt-in <see cref="VideoOptions.MaxPixelsPerFrame"/>).</summary>
public class VideoPixelBudgetTests
{
    [Theory]
    // Worked out with qwen_vl_utils' formulas in Python (VIDEO_MIN_PIXELS 100352, VIDEO_MAX_PIXELS 602112,
    // VIDEO_TOTAL_PIXELS 19267584): max(min(602112, 19267584 / n * 2), 105369), then smart_resize(h, w, 28, 100352, that).
    [InlineData(480, 640, 16, 602112, 476, 644)]     // within budget: only rounded to multiples of 28
    [InlineData(1080, 1920, 16, 602112, 560, 1008)]  // over VIDEO_MAX_PIXELS
    [InlineData(1080, 1920, 64, 602112, 560, 1008)]  // 19267584 / 64 * 2 = 602112 exactly
    [InlineData(1080, 1920, 128, 301056, 392, 728)]  // the total budget shared by 128 frames
    [InlineData(1080, 1920, 768, 105369, 224, 420)]  // never under ⌊VIDEO_MIN_PIXELS × 1.05⌋
    [InlineData(100, 100, 4, 602112, 336, 336)]      // small frames grown to VIDEO_MIN_PIXELS
    public void Frame_sizes_follow_qwen_vl_utils(int height, int width, int frames, double budget, int resizedH, int resizedW)
    {
        Assert.Equal(budget, VideoPixelBudget.MaxPixels(frames, VideoOptions.QwenVideoMaxPixels, VideoOptions.DefaultTotalPixels));
        Assert.Equal((resizedH, resizedW, (string?)null), VideoPixelBudget.Size(height, width, frames, VideoOptions.QwenVideoMaxPixels, VideoOptions.DefaultTotalPixels));
    }

    [Fact]
    public void Off_by_default_frames_keep_their_size()
    {
        IReadOnlyList<RgbImage> frames = [RgbImage.Filled(640, 480, 1, 2, 3), RgbImage.Filled(640, 480, 1, 2, 3)];
        Assert.Same(frames, VideoPixelBudget.Apply(frames, new VideoOptions(), "clip"));
        var resized = VideoPixelBudget.Apply(frames, new VideoOptions { MaxPixelsPerFrame = 200_000 }, "clip");
        // max(min(200000, 19267584 / 2 * 2), 105369) = 200000: 480x640 → √(307200 / 200000) = 1.2394 → 364x504.
        Assert.All(resized, f => Assert.Equal((504, 364), (f.Width, f.Height)));
    }

    /// <summary>qwen2-vl-tiny with a processor range wide enough that the budget, not the processor, sets the size, and 4 frames of 420x280.</summary>
    static void Setup(TempDir dir, TempDir frames)
    {
        foreach (var file in Directory.GetFiles(Qwen2VLReference.Directory)) File.Copy(file, dir.File(Path.GetFileName(file)));
        var processor = JsonNode.Parse(File.ReadAllText(dir.File("preprocessor_config.json")))!.AsObject();
        processor["max_pixels"] = 200_000;
        processor["size"]!["max_pixels"] = 200_000;
        File.WriteAllText(dir.File("preprocessor_config.json"), processor.ToJsonString());
        NextVideoCheckpoint.WriteFrames(frames.Path, 4, width: 420, height: 280);
    }

    // Off: the processor (patch 8 × merge 2 = 16 px) takes 280x420 to 288x416: 18 × 26 tokens per frame pair, 2 pairs.
    const int Unbudgeted = 2 * 18 * 26;

    // 50176 a frame is under the floor ⌊100352 × 1.05⌋ = 105369: 280x420 → 252x392, which the processor takes to 256x384.
    const int Budgeted = 2 * 16 * 24;

    [Fact]
    public void Token_counts_shrink_with_the_budget_through_the_model()
    {
        using var dir = new TempDir();
        using var frames = new TempDir();
        Setup(dir, frames);
        int Tokens(long? maxPixels)
        {
            using var model = MultimodalModel.Load(dir.Path, [new LlavaVisionFactory(new LlavaVisionOptions { Video = new VideoOptions { MaxPixelsPerFrame = maxPixels } })]);
            var prompt = model.RenderChat([new ChatTurn(TurnRole.User, "What happens?")], [ModalityInput.FromFolder(frames.Path)]);
            return model.Layout(prompt).Inputs.Single().Tokens;
        }
        Assert.Equal(Unbudgeted, Tokens(null));
        Assert.Equal(Budgeted, Tokens(50_176));
        // The real VIDEO_MAX_PIXELS leaves 280x420 as it is (already multiples of 28 within the budget).
        Assert.Equal(Unbudgeted, Tokens(VideoOptions.QwenVideoMaxPixels));
    }

    [Fact]
    public void The_cli_option_sets_the_budget_and_refuses_a_non_positive_one()
    {
        using var dir = new TempDir();
        using var frames = new TempDir();
        Setup(dir, frames);
        var r = CliRunner.Run("generate", "--model", dir.Path, "--video", frames.Path, "--video-max-pixels", "50176", "--prompt", "What happens?", "--max-new-tokens", "1", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(Budgeted, System.Text.Json.JsonDocument.Parse(r.Stdout).RootElement.GetProperty("inputs")[0].GetProperty("tokens").GetInt32());
        var bad = CliRunner.Run("generate", "--model", dir.Path, "--video", frames.Path, "--video-max-pixels", "0", "--prompt", "What happens?");
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("--video-max-pixels must be at least 1", bad.Stderr);
    }
}
