using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Encoders.Vision.Video;
using LlavaModal.Multimodal;
using LlavaModal.Tests.Support;
using LlavaModal.Tokenizers.Chat;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

namespace LlavaModal.Tests.Encoders.Vision.Video;

/// <summary>
/// Video files through ffmpeg, with a stand-in ffmpeg and ffprobe (<see cref="FakeFfmpeg"/>): the model input of a video file
/// is exactly that of its sampled frames given as PNG files, the indices are each family's reference rule, the tools get
/// safe arguments, and every failure (none found, exit code, short or long output, bad report, timeout) is a typed error.
/// </summary>
public sealed class FfmpegVideoTests : IDisposable
{
    static readonly byte[] Clip = "not really a video: the fake tools never parse it"u8.ToArray();
    readonly FakeFfmpeg fake = new();

    public void Dispose() => fake.Dispose();

    static MultimodalModel Load(string fixture, VideoOptions video) =>
        MultimodalModel.Load(Fixtures.Path_(fixture), [new LlavaVisionFactory(new LlavaVisionOptions { Video = video })]);

    static float[] Embeds(MultimodalModel model, ModalityInput video)
    {
        var prompt = model.RenderChat([new ChatTurn(TurnRole.User, "What happens?")], [video]);
        using var embeds = model.InputsEmbeds(prompt);
        return embeds.data<float>().ToArray();
    }

    static ModalityInput File_(byte[] data, string source = "clip.mp4") => new(data, "video/mp4", source) { Modality = "video" };

    /// <summary>The indices in the fake ffmpeg's select filter.</summary>
    int[] Selected() => [.. fake.Arguments("ffmpeg")!.Single(a => a.StartsWith("select=", StringComparison.Ordinal))["select=".Length..]
        .Split('+').Select(term => int.Parse(term["eq(n\\,".Length..^1], System.Globalization.CultureInfo.InvariantCulture))];

    // np.arange(0, 30, 30 / 16).astype(int), as transformers' LLaVA-OneVision video example samples 16 frames of 30.
    static readonly int[] OnevisionSixteenOfThirty = [0, 1, 3, 5, 7, 9, 11, 13, 15, 16, 18, 20, 22, 24, 26, 28];

    [Fact]
    public void A_onevision_video_file_gives_the_model_input_of_its_uniformly_sampled_frames_as_png_files()
    {
        using var model = Load("llava-onevision-tiny", new VideoOptions { FfmpegPath = fake.Ffmpeg });
        var fromFile = Embeds(model, File_(Clip));
        Assert.Equal(OnevisionSixteenOfThirty, Selected());
        Assert.Equal(Embeds(model, ModalityInput.FromFolder(fake.PngFolder(OnevisionSixteenOfThirty))), fromFile);
        // The bytes went to both tools on stdin.
        Assert.Equal(Clip, fake.Stdin("ffprobe"));
        Assert.Equal(Clip, fake.Stdin("ffmpeg"));
    }

    [Fact]
    public void Video_frames_overrides_the_count_and_the_tokens_follow_it()
    {
        using var model = Load("llava-onevision-tiny", new VideoOptions { FfmpegPath = fake.Ffmpeg, SampledFrames = 4 });
        var fromFile = Embeds(model, File_(Clip));
        Assert.Equal([0, 7, 15, 22], Selected()); // np.arange(0, 30, 7.5).astype(int)
        Assert.Equal(Embeds(model, ModalityInput.FromFolder(fake.PngFolder([0, 7, 15, 22]))), fromFile);
    }

    [Fact]
    public void A_qwen2_vl_video_file_takes_two_frames_per_second_in_pairs()
    {
        using var model = Load("qwen2-vl-tiny", new VideoOptions { FfmpegPath = fake.Ffmpeg });
        var fromFile = Embeds(model, File_(Clip));
        // 30 frames at 10 per second: 3 s x 2 = 6 frames at torch.linspace(0, 29, 6).round() = 0, 5.8, 11.6, 17.4, 23.2, 29.
        int[] expected = [0, 6, 12, 17, 23, 29];
        Assert.Equal(expected, Selected());
        Assert.Equal(Embeds(model, ModalityInput.FromFolder(fake.PngFolder(expected))), fromFile);
    }

    [Theory]
    // total, rate, requested, max frames -> qwen_vl_utils' smart_nframes and linspace (values away from .5 ties)
    [InlineData(30, 10.0, null, 64, new[] { 0, 6, 12, 17, 23, 29 })]
    [InlineData(30, 30.0, null, 64, new[] { 0, 10, 19, 29 })]            // 2 frames by rate, raised to FPS_MIN_FRAMES 4
    [InlineData(3, 30.0, null, 64, new[] { 0, 2 })]                      // at most the video's frames, floored to even
    [InlineData(1, 30.0, null, 64, new[] { 0 })]                         // a one-frame video: the processor repeats it
    [InlineData(300, 10.0, null, 16, new[] { 0, 20, 40, 60, 80, 100, 120, 140, 159, 179, 199, 219, 239, 259, 279, 299 })] // 60 by rate, bounded by MaxFrames
    [InlineData(30, 10.0, 5, 64, new[] { 0, 10, 19, 29 })]               // a set count: round(5 / 2) * 2 = 4 (half to even)
    [InlineData(30, 10.0, 7, 64, new[] { 0, 4, 8, 12, 17, 21, 25, 29 })] // round(3.5) * 2 = 8
    public void Qwen2_vl_indices_follow_qwen_vl_utils(int total, double rate, int? requested, int maxFrames, int[] expected) =>
        Assert.Equal(expected, FrameSampling.PerSecond(total, rate, VideoOptions.DefaultFramesPerSecond, requested, maxFrames));

    [Theory]
    [InlineData(30, 16, new[] { 0, 1, 3, 5, 7, 9, 11, 13, 15, 16, 18, 20, 22, 24, 26, 28 })]
    [InlineData(10, 3, new[] { 0, 3, 6 })]
    [InlineData(5, 16, new[] { 0, 1, 2, 3, 4 })]
    public void Onevision_indices_are_numpy_arange_truncated(int total, int count, int[] expected) =>
        Assert.Equal(expected, FrameSampling.Uniform(total, count));

    [Fact]
    public void The_tools_get_the_video_on_a_pipe_with_only_the_pipe_protocol_whatever_its_name()
    {
        using var model = Load("llava-onevision-tiny", new VideoOptions { FfmpegPath = fake.Ffmpeg, SampledFrames = 2 });
        Embeds(model, File_(Clip, "-i http://example.com/evil.mp4"));
        foreach (var tool in new[] { "ffprobe", "ffmpeg" })
        {
            var args = fake.Arguments(tool)!;
            Assert.DoesNotContain(args, a => a.Contains("evil", StringComparison.Ordinal) || a.Contains("http", StringComparison.Ordinal));
            Assert.Equal("pipe:0", args[Array.IndexOf(args, "-i") + 1]);
            Assert.Equal("pipe", args[Array.IndexOf(args, "-protocol_whitelist") + 1]);
            Assert.True(Array.IndexOf(args, "-protocol_whitelist") < Array.IndexOf(args, "-i"));
        }
        var ffmpeg = fake.Arguments("ffmpeg")!;
        Assert.Equal(["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], ffmpeg[^5..]);
        Assert.Contains("-noautorotate", ffmpeg);
        Assert.Equal("passthrough", ffmpeg[Array.IndexOf(ffmpeg, "-fps_mode") + 1]);
    }

    [Fact]
    public void Without_ffprobe_ffmpeg_itself_counts_the_frames_and_reads_the_size_and_rate()
    {
        using var alone = new FakeFfmpeg(withProbe: false);
        using var model = Load("qwen2-vl-tiny", new VideoOptions { FfmpegPath = alone.Ffmpeg });
        var fromFile = Embeds(model, File_(Clip));
        var probe = File.ReadAllLines(Path.Combine(alone.Folder, "ffmpeg-probe.args"));
        Assert.Equal(["-map", "0:v:0", "-c", "copy", "-f", "null", "-progress", "pipe:1", "-"], probe[^9..]);
        Assert.Equal("pipe", probe[Array.IndexOf(probe, "-protocol_whitelist") + 1]);
        // 30 frames at 10 fps, as described on stderr and counted on stdout: Qwen2-VL's 6 frames, as with ffprobe.
        int[] expected = [0, 6, 12, 17, 23, 29];
        var args = alone.Arguments("ffmpeg")!;
        Assert.Contains(string.Join('+', expected.Select(i => $"eq(n\\,{i})")), args.Single(a => a.StartsWith("select=", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Equal(Embeds(model, ModalityInput.FromFolder(alone.PngFolder(expected))), fromFile);
    }

    [Fact]
    public void An_mp4_with_its_index_after_its_data_goes_as_a_private_temporary_file_removed_afterwards()
    {
        static byte[] Box(string type, int body) => [0, 0, 0, (byte)(8 + body), .. System.Text.Encoding.ASCII.GetBytes(type), .. new byte[body]];
        byte[] late = [.. Box("ftyp", 8), .. Box("mdat", 16), .. Box("moov", 8)], early = [.. Box("ftyp", 8), .. Box("moov", 8), .. Box("mdat", 16)];
        using var model = Load("llava-onevision-tiny", new VideoOptions { FfmpegPath = fake.Ffmpeg, SampledFrames = 2 });

        var fromTemp = Embeds(model, File_(late));
        var args = fake.Arguments("ffmpeg")!;
        var input = args[Array.IndexOf(args, "-i") + 1];
        Assert.StartsWith("file:/", input, StringComparison.Ordinal);
        Assert.Equal("file", args[Array.IndexOf(args, "-protocol_whitelist") + 1]);
        Assert.Empty(fake.Stdin("ffmpeg"));
        Assert.False(File.Exists(input["file:".Length..]));

        Assert.Equal(fromTemp, Embeds(model, File_(early)));
        Assert.Equal("pipe:0", fake.Arguments("ffmpeg")![Array.IndexOf(fake.Arguments("ffmpeg")!, "-i") + 1]);
        Assert.Equal(early, fake.Stdin("ffmpeg"));
    }

    static VideoDecodeException Fails(FakeFfmpeg tools, VideoOptions? options = null)
    {
        var video = (options ?? new VideoOptions()) with { FfmpegPath = tools.Ffmpeg };
        var e = Assert.Throws<VideoDecodeException>(() => VideoFrames.Read(File_(Clip), new ImageLoader(), video));
        Assert.Contains("clip.mp4", e.Message, StringComparison.Ordinal);
        return e;
    }

    [Fact]
    public void Ffmpeg_failing_is_an_error_with_its_stderr()
    {
        using var tools = new FakeFfmpeg(ffmpegBefore: "echo 'clip.mp4: Invalid data found when processing input' >&2; exit 3");
        var e = Fails(tools);
        Assert.Contains("exit code 3", e.Message, StringComparison.Ordinal);
        Assert.Contains("Invalid data found", e.StderrTail, StringComparison.Ordinal);
        Assert.Contains("Invalid data found", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Too_few_frames_or_a_cut_frame_is_an_error_naming_the_counts()
    {
        // ffmpeg writes 16 frames and ends; the probe promised more than it delivers when frames are larger than reported.
        using var cut = new FakeFfmpeg(probe: """{"streams": [{"width": 40, "height": 31, "avg_frame_rate": "10/1", "nb_read_packets": "30"}]}""");
        var e = Fails(cut);
        Assert.Contains("of the 16 frames expected", e.Message, StringComparison.Ordinal);
        Assert.Contains("bytes of another", e.Message, StringComparison.Ordinal);
        using var early = new FakeFfmpeg(ffmpegBefore: "exec 1>&-; exit 0");
        Assert.Contains("gave 0 of the 16 frames", Fails(early).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void More_output_than_the_frames_is_an_error()
    {
        using var extra = new FakeFfmpeg(ffmpegAfter: "printf 'x'");
        Assert.Contains("more than the 16 frames", Fails(extra).Message, StringComparison.Ordinal);
        using var smaller = new FakeFfmpeg(probe: """{"streams": [{"width": 40, "height": 29, "avg_frame_rate": "10/1", "nb_read_packets": "30"}]}""");
        Assert.Contains("more than the 16 frames", Fails(smaller).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not json", "not the JSON expected")]
    [InlineData("""{"streams": []}""", "no video stream")]
    [InlineData("""{"streams": [{"width": 40, "height": 30, "avg_frame_rate": "10/1", "nb_read_packets": "N/A"}]}""", "not the JSON expected")]
    [InlineData("""{"streams": [{"width": 0, "height": 30, "avg_frame_rate": "10/1", "nb_read_packets": "30"}]}""", "0x30")]
    [InlineData("""{"streams": [{"width": 40, "height": 30, "avg_frame_rate": "10/1", "nb_read_packets": "0"}]}""", "no frames")]
    public void A_report_that_does_not_describe_a_video_is_an_error_and_ffmpeg_never_runs(string probe, string expected)
    {
        using var tools = new FakeFfmpeg(probe: probe);
        Assert.Contains(expected, Fails(tools).Message, StringComparison.Ordinal);
        Assert.Null(tools.Arguments("ffmpeg"));
    }

    [Fact]
    public void Frames_over_the_pixel_limit_are_refused_before_ffmpeg_runs()
    {
        using var tools = new FakeFfmpeg(probe: """{"streams": [{"width": 9000, "height": 9000, "avg_frame_rate": "10/1", "nb_read_packets": "30"}]}""");
        var e = Assert.Throws<InputLimitException>(() => VideoFrames.Read(File_(Clip), new ImageLoader(), new VideoOptions { FfmpegPath = tools.Ffmpeg }));
        Assert.Equal("ImageLoaderOptions.MaxPixels", e.Limit);
        Assert.Null(tools.Arguments("ffmpeg"));
    }

    [Fact]
    public void A_run_past_the_timeout_is_killed_with_its_children_and_refused()
    {
        // 3 s, not 1: on a loaded machine the fake could be killed before it wrote its child's pid (seen once under load 3).
        using var tools = new FakeFfmpeg(ffmpegBefore: "sleep 60 & echo $! > \"$0.child\"; wait");
        var e = Fails(tools, new VideoOptions { FfmpegTimeout = TimeSpan.FromSeconds(3) });
        Assert.Contains("VideoOptions.FfmpegTimeout", e.Message, StringComparison.Ordinal);
        AssertGone(int.Parse(File.ReadAllText(tools.Ffmpeg + ".child").Trim(), System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Cancelling_kills_ffmpeg_and_its_children()
    {
        using var tools = new FakeFfmpeg(ffmpegBefore: "sleep 60 & echo $! > \"$0.child\"; wait");
        using var cancel = new CancellationTokenSource();
        var read = Task.Run(() => VideoFrames.Read(File_(Clip), new ImageLoader(), new VideoOptions { FfmpegPath = tools.Ffmpeg }, FrameRule.Uniform, cancel.Token));
        var child = tools.Ffmpeg + ".child";
        for (int i = 0; i < 600 && !File.Exists(child); i++) Thread.Sleep(50);
        cancel.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => read.GetAwaiter().GetResult());
        AssertGone(int.Parse(File.ReadAllText(child).Trim(), System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>The process has exited (or is a zombie awaiting its reaper) within a few seconds.</summary>
    static void AssertGone(int pid)
    {
        for (int i = 0; i < 100; i++)
        {
            var stat = $"/proc/{pid}/stat";
            if (!File.Exists(stat)) return;
            try
            {
                var fields = File.ReadAllText(stat);
                if (fields[(fields.LastIndexOf(')') + 2)..].StartsWith('Z')) return;
            }
            catch (IOException) { return; }
            Thread.Sleep(50);
        }
        Assert.Fail($"process {pid} is still running");
    }

    [Fact]
    public void Without_ffmpeg_the_error_says_so_and_how_to_configure_it()
    {
        using var empty = new TempDir();
        var e = Assert.Throws<VideoDecodeException>(() => FfmpegTools.Find(new VideoOptions(), "clip.mp4", "video/mp4", empty.Path));
        foreach (var part in new[] { "clip.mp4", "'video/mp4'", "no ffmpeg executable was found on the PATH", "VideoOptions.FfmpegPath", "--ffmpeg", "frames" })
            Assert.Contains(part, e.Message, StringComparison.Ordinal);
        var configured = Assert.Throws<VideoDecodeException>(() => FfmpegTools.Find(new VideoOptions { FfmpegPath = empty.File("ffmpeg") }, "clip.mp4", null, empty.Path));
        Assert.Contains("does not exist", configured.Message, StringComparison.Ordinal);
        using var alone = new FakeFfmpeg(withProbe: false);
        Assert.Equal((alone.Ffmpeg, null), FfmpegTools.Find(new VideoOptions { FfmpegPath = alone.Ffmpeg }, "clip.mp4", null, empty.Path));
        // Found on the PATH (ffprobe beside it).
        Assert.Equal((fake.Ffmpeg, Path.Combine(fake.Folder, "ffprobe")), FfmpegTools.Find(new VideoOptions(), "clip.mp4", null, fake.Folder));
    }

    [Theory]
    [InlineData("video/mp4")]
    [InlineData("video/quicktime")]
    [InlineData("video/x-matroska")]
    public async Task Through_IChatClient_a_video_data_content_is_decoded_by_ffmpeg(string mediaType)
    {
        var services = new ServiceCollection();
        services.AddLlavaModal(o => o.ModelDirectory = Fixtures.Path_("llava-onevision-tiny"),
            new LlavaVisionOptions { Video = new VideoOptions { FfmpegPath = fake.Ffmpeg, SampledFrames = 3 } });
        services.AddLlavaChatClient(Fixtures.Path_("llava-onevision-tiny"));
        using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IChatClient>();
        var response = await client.GetResponseAsync(
            [new ChatMessage(ChatRole.User, [new DataContent(Clip, mediaType), new TextContent("What happens?")])], new ChatOptions { MaxOutputTokens = 1 });
        Assert.Equal([0, 10, 20], Selected());
        Assert.Equal(Clip, fake.Stdin("ffmpeg"));
        var model = provider.GetRequiredService<MultimodalModel>();
        var direct = model.Generate(model.RenderChat([new ChatTurn(TurnRole.User, "What happens?")], [ModalityInput.FromFolder(fake.PngFolder([0, 10, 20]))]),
            new LlavaModal.Decoder.Generation.GenerationOptions { MaxNewTokens = 1 });
        Assert.Equal(direct.PromptTokens, response.Usage!.InputTokenCount);
        Assert.Equal(direct.Text, response.Text);
    }
}
