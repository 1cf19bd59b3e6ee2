using System.CommandLine;
using LlavaModal.Abstractions.Modality;

namespace LlavaModal.Cli;

/// <summary><c>--video</c> (repeatable), <c>--video-frames</c>, <c>--video-max-pixels</c> and <c>--ffmpeg</c>, shared by <c>generate</c> and <c>chat</c>.</summary>
sealed class VideoOptions
{
    readonly Option<string[]> videos = new("--video")
    {
        Description = "Video (repeatable; LLaVA-OneVision, LLaVA-NeXT-Video, Qwen2-VL): a folder of its frame images (PNG, JPEG, ...) read in name order, an animated GIF, WebP or PNG, or a video file (MP4, WebM, MKV, MOV, AVI, ...; needs ffmpeg); spliced where <video> stands, else put before the prompt on its own line.",
    };

    readonly Option<int?> frames = new("--video-frames")
    {
        Description = "Use N frames of each --video, evenly spaced (default: every frame of a folder, up to the plugin's limit of 64; of an animation or a video file 16 for LLaVA-OneVision and LLaVA-NeXT-Video, 2 per second for Qwen2-VL).",
    };

    readonly Option<long?> maxPixels = new("--video-max-pixels")
    {
        Description = "Qwen2-VL: resize each video frame first as qwen_vl_utils does, to at most N pixels (602112 = 768*28*28 is its VIDEO_MAX_PIXELS) and less for long videos (its total budget shared by the frames); default: off, as transformers' processor.",
    };

    readonly Option<string?> ffmpeg = new("--ffmpeg")
    {
        Description = "The ffmpeg executable that decodes video files (default: ffmpeg on the PATH; ffprobe is used from beside it when present).",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(videos);
        command.Options.Add(frames);
        command.Options.Add(maxPixels);
        command.Options.Add(ffmpeg);
    }

    /// <summary>The --video paths as given.</summary>
    public string[] Paths(ParseResult parse) => parse.GetValue(videos) ?? [];

    /// <summary>--video-frames, checked.</summary>
    public int? Frames(ParseResult parse) =>
        parse.GetValue(frames) is int n && n < 1 ? throw new ArgumentException($"--video-frames must be at least 1, got {n}.") : parse.GetValue(frames);

    /// <summary>The video plugins' options: --video-frames (raising the frame limit to it), --video-max-pixels and --ffmpeg.</summary>
    public Encoders.Vision.Video.VideoOptions Plugin(ParseResult parse)
    {
        if (parse.GetValue(maxPixels) is long p && p < 1) throw new ArgumentException($"--video-max-pixels must be at least 1, got {p}.");
        var video = new Encoders.Vision.Video.VideoOptions { FfmpegPath = parse.GetValue(ffmpeg), MaxPixelsPerFrame = parse.GetValue(maxPixels) };
        return Frames(parse) is int n ? video with { SampledFrames = n, MaxFrames = Math.Max(video.MaxFrames, n) } : video;
    }

    /// <summary>The inputs: a folder's frames (sampled here), or a file whose frames the plugin samples (see <see cref="LoadOptions.LoadModel"/>).</summary>
    public IEnumerable<ModalityInput> Inputs(ParseResult parse) =>
        Paths(parse).Select(path => Directory.Exists(path) ? ModalityInput.FromFolder(path, "video", Frames(parse)) : ModalityInput.FromFile(path, "video"));
}
