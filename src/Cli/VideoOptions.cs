using System.CommandLine;
using LlavaModal.Abstractions.Modality;

namespace LlavaModal.Cli;

/// <summary><c>--video</c> (repeatable) and <c>--video-frames</c>, shared by <c>generate</c> and <c>chat</c>.</summary>
sealed class VideoOptions
{
    readonly Option<string[]> videos = new("--video")
    {
        Description = "Video (repeatable; LLaVA-OneVision, Qwen2-VL): a folder of its frame images (PNG, JPEG, ...) read in name order, or an animated GIF, WebP or PNG; spliced where <video> stands, else put before the prompt on its own line.",
    };

    readonly Option<int?> frames = new("--video-frames")
    {
        Description = "Use N frames of each --video, evenly spaced from first to last (default: every frame of a folder, up to the plugin's limit of 64; 16 of an animation).",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(videos);
        command.Options.Add(frames);
    }

    /// <summary>The --video paths as given.</summary>
    public string[] Paths(ParseResult parse) => parse.GetValue(videos) ?? [];

    /// <summary>--video-frames, checked.</summary>
    public int? Frames(ParseResult parse) =>
        parse.GetValue(frames) is int n && n < 1 ? throw new ArgumentException($"--video-frames must be at least 1, got {n}.") : parse.GetValue(frames);

    /// <summary>The inputs: a folder's frames (sampled here), or a file whose frames the plugin samples (see <see cref="LoadOptions.LoadModel"/>).</summary>
    public IEnumerable<ModalityInput> Inputs(ParseResult parse) =>
        Paths(parse).Select(path => Directory.Exists(path) ? ModalityInput.FromFolder(path, "video", Frames(parse)) : ModalityInput.FromFile(path, "video"));
}
