using System.Buffers.Binary;
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
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.PixelFormats;
using SkiaSharp;

namespace LlavaModal.Tests.Encoders.Vision;

/// <summary>An animated GIF, WebP or PNG is a video: its frames, composited and sampled by the family's rule as a video file's, are exactly the frames of the same clip given as PNG files.</summary>
public sealed class AnimatedVideoTests : IDisposable
{
    const int Width = 40, Height = 30, Count = 7;
    readonly string folder = Directory.CreateTempSubdirectory("frames-").FullName;
    readonly Rgb24[][] frames = [.. Enumerable.Range(0, Count).Select(Frame)];

    public AnimatedVideoTests()
    {
        for (int i = 0; i < Count; i++)
        {
            using var image = SixLabors.ImageSharp.Image.LoadPixelData(frames[i], Width, Height);
            image.SaveAsPng(Path.Combine(folder, $"frame{i + 1}.png"));
        }
    }

    public void Dispose() => Directory.Delete(folder, true);

    /// <summary>
    /// A few flat colours (a GIF palette holds them exactly) in a pattern that moves from frame to frame, under a top bar
    /// whose length (index + 1) × 5 px tells the frames apart.
    /// </summary>
    static Rgb24[] Frame(int index)
    {
        Rgb24[] palette = [new(250, 20, 20), new(20, 200, 40), new(30, 40, 230), new(240, 240, 240), new(0, 0, 0)];
        var pixels = new Rgb24[Width * Height];
        for (int y = 0; y < Height; y++)
            for (int x = 0; x < Width; x++)
                pixels[y * Width + x] = y < 3 ? palette[x < (index + 1) * 5 ? 3 : 4] : palette[((x / 5) + (y / 6) + index) % palette.Length];
        return pixels;
    }

    /// <summary>The clip as a GIF whose frames show for <paramref name="delay"/> hundredths of a second (0: unset).</summary>
    byte[] Gif(int delay = 0)
    {
        using var image = SixLabors.ImageSharp.Image.LoadPixelData(frames[0], Width, Height);
        for (int i = 1; i < Count; i++)
        {
            using var next = SixLabors.ImageSharp.Image.LoadPixelData(frames[i], Width, Height);
            image.Frames.AddFrame(next.Frames.RootFrame);
        }
        foreach (var frame in image.Frames) frame.Metadata.GetGifMetadata().FrameDelay = delay;
        using var stream = new MemoryStream();
        image.SaveAsGif(stream, new GifEncoder { ColorTableMode = GifColorTableMode.Local });
        return stream.ToArray();
    }

    /// <summary>An animated WebP container (VP8X, ANIM, one ANMF per frame of <paramref name="duration"/> ms) around lossless single-frame encodes.</summary>
    byte[] Webp(int duration = 100)
    {
        var body = new MemoryStream();
        body.Write("WEBP"u8);
        Chunk(body, "VP8X", [0x02, 0, 0, 0, .. U24(Width - 1), .. U24(Height - 1)]);
        Chunk(body, "ANIM", [0, 0, 0, 0, 0, 0]);
        foreach (var frame in frames)
        {
            var rgba = frame.SelectMany(p => new[] { p.R, p.G, p.B, (byte)255 }).ToArray();
            using var bitmap = new SKBitmap(new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
            System.Runtime.InteropServices.Marshal.Copy(rgba, 0, bitmap.GetPixels(), rgba.Length);
            using var encoded = bitmap.PeekPixels().Encode(new SKWebpEncoderOptions(SKWebpEncoderCompression.Lossless, 100));
            var still = encoded.ToArray();
            // The still file is RIFF, size, WEBP, then its VP8L chunk: that chunk is the frame's data.
            var image = still.AsSpan(12).ToArray();
            // x/2, y/2, width-1, height-1, duration, flags: no blending, no disposal.
            Chunk(body, "ANMF", [.. U24(0), .. U24(0), .. U24(Width - 1), .. U24(Height - 1), .. U24(duration), 0x02, .. image]);
        }
        var file = new MemoryStream();
        file.Write("RIFF"u8);
        Span<byte> size = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(size, (uint)body.Length);
        file.Write(size);
        body.WriteTo(file);
        return file.ToArray();

        static byte[] U24(int v) => [(byte)v, (byte)(v >> 8), (byte)(v >> 16)];
        static void Chunk(Stream s, string id, byte[] data)
        {
            s.Write(System.Text.Encoding.ASCII.GetBytes(id));
            Span<byte> length = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)data.Length);
            s.Write(length);
            s.Write(data);
            if (data.Length % 2 == 1) s.WriteByte(0);
        }
    }

    /// <summary>An APNG: IHDR of the canvas, acTL, then per frame an fcTL (delay <paramref name="numerator"/> / <paramref name="denominator"/> s) and its image data (IDAT for the first, fdAT after).</summary>
    byte[] Apng(int numerator = 1, int denominator = 10)
    {
        var file = new MemoryStream();
        file.Write(PngChunks.Signature);
        int sequence = 0;
        for (int i = 0; i < Count; i++)
        {
            var (ihdr, data) = StillPng(frames[i]);
            if (i == 0)
            {
                PngChunks.Write(file, "IHDR", ihdr);
                PngChunks.Write(file, "acTL", [.. BigEndian(Count), .. BigEndian(0)]);
            }
            // sequence, width, height, x, y, delay, dispose NONE, blend SOURCE
            PngChunks.Write(file, "fcTL", [.. BigEndian(sequence++), .. BigEndian(Width), .. BigEndian(Height), .. BigEndian(0), .. BigEndian(0),
                (byte)(numerator >> 8), (byte)numerator, (byte)(denominator >> 8), (byte)denominator, 0, 0]);
            if (i == 0) PngChunks.Write(file, "IDAT", data);
            else PngChunks.Write(file, "fdAT", [.. BigEndian(sequence++), .. data]);
        }
        PngChunks.Write(file, "IEND", []);
        return file.ToArray();

        static byte[] BigEndian(int v) => [(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v];
    }

    /// <summary>A frame encoded as an 8-bit RGB PNG: its IHDR and its image data (the IDAT chunks joined).</summary>
    static (byte[] Header, byte[] Data) StillPng(Rgb24[] pixels, int width = Width, int height = Height)
    {
        using var image = SixLabors.ImageSharp.Image.LoadPixelData(pixels, width, height);
        using var stream = new MemoryStream();
        image.SaveAsPng(stream, new SixLabors.ImageSharp.Formats.Png.PngEncoder { ColorType = SixLabors.ImageSharp.Formats.Png.PngColorType.Rgb, BitDepth = SixLabors.ImageSharp.Formats.Png.PngBitDepth.Bit8 });
        var png = stream.ToArray();
        byte[]? header = null;
        var data = new List<byte>();
        for (int at = 8; at < png.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            string type = System.Text.Encoding.ASCII.GetString(png, at + 4, 4);
            if (type == "IHDR") header = png.AsSpan(at + 8, length).ToArray();
            if (type == "IDAT") data.AddRange(png.AsSpan(at + 8, length).ToArray());
            at += 12 + length;
        }
        return (header!, [.. data]);
    }

    static MultimodalModel Load(int? sampled, string fixture = "llava-onevision-tiny") => MultimodalModel.Load(Fixtures.Path_(fixture),
        [new LlavaVisionFactory(new LlavaVisionOptions { Video = new VideoOptions { SampledFrames = sampled } })]);

    /// <summary>The clip's PNG files at <paramref name="indices"/>, as a video given frame by frame.</summary>
    ModalityInput Files(IEnumerable<int> indices) => new(ReadOnlyMemory<byte>.Empty, MediaTypes.FrameSequence, "files")
    {
        Modality = "video",
        Frames = [.. indices.Select(i => ModalityInput.FromFile(Path.Combine(folder, $"frame{i + 1}.png")))],
    };

    byte[] Animation(string format, int durationMs) => format switch
    {
        "gif" => Gif(durationMs / 10),
        "webp" => Webp(durationMs),
        _ => Apng(durationMs, 1000),
    };

    static float[] Embeds(MultimodalModel model, ModalityInput video)
    {
        var prompt = model.RenderChat([new ChatTurn(TurnRole.User, "What happens?")], [video]);
        using var embeds = model.InputsEmbeds(prompt);
        return embeds.data<float>().ToArray();
    }

    [Theory]
    [InlineData("gif", 16)]
    [InlineData("gif", 3)]
    [InlineData("webp", 16)]
    [InlineData("webp", 4)]
    [InlineData("png", 16)]
    [InlineData("png", 5)]
    public void An_animation_gives_the_model_input_of_its_frames_as_files(string format, int sampled)
    {
        var data = format switch { "gif" => Gif(), "webp" => Webp(), _ => Apng() };
        using var model = Load(sampled);
        var animated = new ModalityInput(data, $"image/{format}", $"clip.{format}") { Modality = "video" };
        Assert.Equal(Embeds(model, Files(FrameSampling.Uniform(Count, sampled))), Embeds(model, animated));
    }

    /// <summary>
    /// Which of the 7 frames each family takes, worked out by hand from the references' rules. LLaVA-OneVision and
    /// LLaVA-NeXT-Video: <c>np.arange(0, 7, 7 / N).astype(int)</c>, whatever the durations. Qwen2-VL: 2 frames a second of
    /// the animation, at least 4, at most 6 (the even count within 7), at <c>torch.linspace(0, 6, n).round()</c>: 7 frames
    /// of 100 ms (0.7 s) give 4 frames, 0, 2, 4, 6; of 500 ms (3.5 s) 7, capped to 6: 0, 1.2, 2.4, 3.6, 4.8, 6 rounded.
    /// A GIF's unset (0) delay and an APNG delay of 10 ms count as 100 ms, as browsers play them.
    /// </summary>
    [Theory]
    [InlineData("gif", false, 3, 500, new[] { 0, 2, 4 })]
    [InlineData("webp", false, 4, 100, new[] { 0, 1, 3, 5 })]
    [InlineData("png", false, 5, 500, new[] { 0, 1, 2, 4, 5 })]
    [InlineData("gif", false, 16, 0, new[] { 0, 1, 2, 3, 4, 5, 6 })]
    [InlineData("gif", true, null, 0, new[] { 0, 2, 4, 6 })]
    [InlineData("gif", true, null, 500, new[] { 0, 1, 2, 4, 5, 6 })]
    [InlineData("webp", true, null, 100, new[] { 0, 2, 4, 6 })]
    [InlineData("webp", true, null, 500, new[] { 0, 1, 2, 4, 5, 6 })]
    [InlineData("png", true, null, 10, new[] { 0, 2, 4, 6 })]
    [InlineData("png", true, null, 500, new[] { 0, 1, 2, 4, 5, 6 })]
    [InlineData("png", true, 3, 500, new[] { 0, 2, 4, 6 })]
    public void An_animation_is_sampled_by_the_familys_rule_at_the_rate_of_its_frame_durations(string format, bool perSecond, int? sampled, int durationMs, int[] expected)
    {
        var input = new ModalityInput(Animation(format, durationMs), $"image/{format}", $"clip.{format}") { Modality = "video" };
        var taken = VideoFrames.Read(input, new ImageLoader(), new VideoOptions { SampledFrames = sampled }, perSecond ? FrameRule.FramesPerSecond : FrameRule.Uniform, CancellationToken.None);
        Assert.Equal(expected.Select(i => frames[i].SelectMany(p => new[] { p.R, p.G, p.B })), taken.Select(f => f.Pixels));
    }

    [Fact]
    public void An_apng_delay_with_a_zero_denominator_is_in_hundredths_of_a_second()
    {
        Assert.Equal(Enumerable.Repeat(500.0, Count), ApngFrames.Durations(Apng(50, 0), "clip.png"));
        Assert.Equal(Enumerable.Repeat(500.0, Count), AnimatedFrames.Durations(Gif(50), "clip.gif"));
        Assert.Equal(Enumerable.Repeat(250.0, Count), AnimatedFrames.Durations(Webp(250), "clip.webp"));
        Assert.Equal(10, AnimationTiming.Rate(AnimatedFrames.Durations(Gif(0), "clip.gif")));
    }

    [Fact]
    public void Qwen2_vl_takes_from_an_animation_the_frames_it_takes_as_files()
    {
        using var model = Load(null, "qwen2-vl-tiny");
        var animated = new ModalityInput(Gif(50), "image/gif", "clip.gif") { Modality = "video" };
        Assert.Equal(Embeds(model, Files([0, 1, 2, 4, 5, 6])), Embeds(model, animated));
    }

    [Fact]
    public async Task Through_IChatClient_an_animation_marked_as_video_is_a_video()
    {
        var services = new ServiceCollection();
        services.AddLlavaChatClient(Fixtures.Path_("llava-onevision-tiny"));
        using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IChatClient>();
        async Task<long> PromptTokens(byte[] data, string type, string? modality)
        {
            var item = new DataContent(data, type);
            if (modality is not null) item.AdditionalProperties = new() { ["modality"] = modality };
            var response = await client.GetResponseAsync(
                [new ChatMessage(ChatRole.User, [item, new TextContent("What happens?")])], new ChatOptions { MaxOutputTokens = 1 });
            return response.Usage!.InputTokenCount!.Value;
        }
        long gifVideo = await PromptTokens(Gif(), "image/gif", "video"), webpVideo = await PromptTokens(Webp(), "image/webp", "video");
        long gifImage = await PromptTokens(Gif(), "image/gif", null);
        // The same question asked directly with the frames as files: as many positions as the animation marked as video.
        var model = provider.GetRequiredService<MultimodalModel>();
        var direct = model.Generate(model.RenderChat([new ChatTurn(TurnRole.User, "What happens?")], [ModalityInput.FromFolder(folder)]), new LlavaModal.Decoder.Generation.GenerationOptions { MaxNewTokens = 1 });
        Assert.Equal(direct.PromptTokens, gifVideo);
        Assert.Equal(gifVideo, webpVideo);
        Assert.NotEqual(gifImage, gifVideo);
    }

    [Fact]
    public void Apng_regions_blend_and_dispose_as_the_specification_says()
    {
        static Rgb24[] Solid(int n, Rgb24 colour) => [.. Enumerable.Repeat(colour, n * n)];
        Rgb24 red = new(255, 0, 0), blue = new(0, 0, 255), green = new(0, 255, 0);
        var file = new MemoryStream();
        file.Write(PngChunks.Signature);
        var (ihdr, full) = StillPng(Solid(8, red), 8, 8);
        PngChunks.Write(file, "IHDR", ihdr);
        PngChunks.Write(file, "acTL", [0, 0, 0, 3, 0, 0, 0, 0]);
        // frame 0: the whole canvas red; frame 1: blue 4x4 at (2,2), then disposed to background; frame 2: green 2x2 at (0,0) blended over.
        PngChunks.Write(file, "fcTL", [0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 10, 0, 0]);
        PngChunks.Write(file, "IDAT", full);
        PngChunks.Write(file, "fcTL", [0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1, 0, 10, 1, 0]);
        PngChunks.Write(file, "fdAT", [0, 0, 0, 2, .. StillPng(Solid(4, blue), 4, 4).Data]);
        PngChunks.Write(file, "fcTL", [0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 10, 2, 1]);
        PngChunks.Write(file, "fdAT", [0, 0, 0, 4, .. StillPng(Solid(2, green), 2, 2).Data]);
        PngChunks.Write(file, "IEND", []);

        var frames = ApngFrames.Read(file.ToArray(), "moves.png", new ImageLoader(), FrameRule.Uniform, new VideoOptions(), CancellationToken.None);
        Assert.Equal(3, frames.Count);
        Rgb24 At(int frame, int x, int y) { var p = frames[frame].Pixels; int i = (y * 8 + x) * 3; return new(p[i], p[i + 1], p[i + 2]); }
        Assert.Equal(red, At(0, 3, 3));
        Assert.Equal(blue, At(1, 3, 3));
        Assert.Equal(red, At(1, 1, 1));
        Assert.Equal(new Rgb24(0, 0, 0), At(2, 3, 3));   // frame 1's region cleared to transparent black
        Assert.Equal(green, At(2, 1, 1));
        Assert.Equal(red, At(2, 7, 7));
    }

    [Fact]
    public void Mutated_animations_are_refused_as_invalid_images_or_decode_the_same_twice()
    {
        var originals = new[] { Gif(), Webp(), Apng() };
        var loader = new ImageLoader(new ImageLoaderOptions { MaxPixels = 4_000_000 });
        // Mutations that are no longer an animation go to ffmpeg: a missing one keeps the test free of whatever is installed.
        var video = new VideoOptions { SampledFrames = 4, FfmpegPath = Path.Combine(folder, "no-ffmpeg") };
        var report = Fuzz.Run("animations", seed: 16, cases: 150, TimeSpan.FromSeconds(20),
            (random, i) =>
            {
                var original = originals[i % originals.Length];
                return Fuzz.Mutate(random, original, 0, random.Next(3) == 0 ? original.Length : Math.Min(original.Length, 120));
            },
            bytes =>
            {
                var input = new ModalityInput(bytes, null, "fuzz") { Modality = "video" };
                var first = VideoFrames.Read(input, loader, video);
                var second = VideoFrames.Read(input, loader, video);
                Assert.Equal(first.Select(f => f.Pixels), second.Select(f => f.Pixels));
            },
            null, typeof(InvalidImageException), typeof(LlavaModalException));
        Assert.True(report.Counts.GetValueOrDefault("accepted") > 0, report.ToString());
        Assert.True(report.Total - report.Counts.GetValueOrDefault("accepted") > 20, report.ToString());
    }

    [Fact]
    public void A_truncated_animation_is_an_error_naming_it()
    {
        var data = Gif();
        using var model = Load(16);
        var cut = new ModalityInput(data.AsMemory(0, data.Length * 2 / 3), "image/gif", "cut.gif") { Modality = "video" };
        var e = Assert.ThrowsAny<LlavaModalException>(() => Embeds(model, cut));
        Assert.Contains("cut.gif", e.Message, StringComparison.Ordinal);
        Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
        var webp = Webp();
        var cutWebp = new ModalityInput(webp.AsMemory(0, webp.Length - 40), "image/webp", "cut.webp") { Modality = "video" };
        Assert.Contains("truncated", Assert.ThrowsAny<LlavaModalException>(() => Embeds(model, cutWebp)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_still_image_given_as_video_is_a_one_frame_video()
    {
        using var model = Load(16);
        using var still = SixLabors.ImageSharp.Image.LoadPixelData(frames[2], Width, Height);
        using var gif = new MemoryStream();
        still.SaveAsGif(gif);
        var one = new ModalityInput(gif.ToArray(), "image/gif", "still.gif") { Modality = "video" };
        var file = new ModalityInput(ReadOnlyMemory<byte>.Empty, MediaTypes.FrameSequence, "one") { Modality = "video", Frames = [ModalityInput.FromFile(Path.Combine(folder, "frame3.png"))] };
        Assert.Equal(Embeds(model, file), Embeds(model, one));
    }
}
