using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.Abstractions.Modality;

public class FrameFolderTests
{
    static void Touch(TempDir dir, params string[] names)
    {
        foreach (var name in names) File.WriteAllBytes(dir.File(name), [1, 2, 3]);
    }

    [Fact]
    public void Frames_are_read_in_numbered_order_as_one_video_input_skipping_hidden_files()
    {
        using var dir = new TempDir();
        Touch(dir, "frame10.png", "frame2.png", "frame1.png", "frame002b.jpg", ".DS_Store");
        var video = ModalityInput.FromFolder(dir.Path);
        Assert.Equal("video", video.Modality);
        Assert.Equal(MediaTypes.FrameSequence, video.MediaType);
        Assert.Equal(0, video.Data.Length);
        Assert.Equal(["frame1.png", "frame2.png", "frame002b.jpg", "frame10.png"], video.Frames!.Select(f => Path.GetFileName(f.Source)));
        Assert.Equal(["image/png", "image/png", "image/jpeg", "image/png"], video.Frames!.Select(f => f.MediaType));
        Assert.Contains("4 frames", (video with { Source = null }).Describe());
    }

    [Theory]
    // numpy: np.linspace(0, total - 1, count).astype(int)
    [InlineData(100, 8, new[] { 0, 14, 28, 42, 56, 70, 84, 99 })]
    [InlineData(8, 4, new[] { 0, 2, 4, 7 })]
    [InlineData(5, 5, new[] { 0, 1, 2, 3, 4 })]
    [InlineData(9, 1, new[] { 0 })]
    [InlineData(3, 5, new[] { 0, 0, 1, 1, 2 })]
    public void Sampling_spreads_frames_as_numpy_linspace(int total, int count, int[] expected) =>
        Assert.Equal(expected, ModalityInput.Sample(total, count));

    [Fact]
    public void A_sample_reads_only_the_chosen_frames()
    {
        using var dir = new TempDir();
        Touch(dir, [.. Enumerable.Range(0, 10).Select(i => $"f{i}.png")]);
        var video = ModalityInput.FromFolder(dir.Path, sample: 4);
        Assert.Equal(["f0.png", "f3.png", "f6.png", "f9.png"], video.Frames!.Select(f => Path.GetFileName(f.Source)));
        Assert.Equal(10, ModalityInput.FromFolder(dir.Path, sample: 50).Frames!.Count);
    }

    [Fact]
    public void A_folder_with_other_files_too_many_frames_or_none_is_refused()
    {
        using var dir = new TempDir();
        Assert.Contains("no frame images", Assert.Throws<LlavaModalException>(() => ModalityInput.FromFolder(dir.Path)).Message);
        Touch(dir, "a.png", "b.png", "c.png");
        Assert.Contains("more than 2 frame files", Assert.Throws<LlavaModalException>(() => ModalityInput.FromFolder(dir.Path, maxFrames: 2)).Message);
        Assert.Contains("maxBytes", Assert.Throws<LlavaModalException>(() => ModalityInput.FromFolder(dir.Path, maxBytes: 8)).Message);
        Touch(dir, "notes.txt");
        Assert.Contains("notes.txt", Assert.Throws<LlavaModalException>(() => ModalityInput.FromFolder(dir.Path)).Message);
        Assert.Contains("not found", Assert.Throws<LlavaModalException>(() => ModalityInput.FromFolder(dir.File("missing"))).Message);
    }
}
