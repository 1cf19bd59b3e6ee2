using System.Text;
using LlavaModal.Tests.Support;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace LlavaModal.Tests.Encoders.Vision.Video;

/// <summary>
/// A stand-in ffmpeg and ffprobe (POSIX shell scripts in a temporary folder) for a clip of <see cref="Count"/> known frames:
/// ffprobe prints the report the test sets; ffmpeg writes, as raw RGB, the frames its <c>select=eq(n\,K)+...</c> filter
/// names, from files the test wrote, or (when asked for <c>-progress</c>) describes the clip as ffmpeg does without ffprobe. Both record their arguments and what they read on stdin.
/// </summary>
public sealed class FakeFfmpeg : IDisposable
{
    public const int Width = 40, Height = 30, Count = 30;
    readonly TempDir dir = new();

    /// <param name="probe">ffprobe's JSON report (default: the clip, 10 frames per second).</param>
    /// <param name="ffmpegBefore">Shell lines ffmpeg runs before writing frames (e.g. <c>exit 3</c>, <c>sleep 30</c>).</param>
    /// <param name="ffmpegAfter">Shell lines ffmpeg runs after writing them.</param>
    /// <param name="withProbe">Whether an ffprobe is put beside the ffmpeg.</param>
    public FakeFfmpeg(string? probe = null, string ffmpegBefore = "", string ffmpegAfter = "", bool withProbe = true)
    {
        for (int i = 0; i < Count; i++) File.WriteAllBytes(dir.File($"frame{i}.raw"), Frame(i));
        File.WriteAllText(dir.File("probe.json"), probe ??
            $$"""{"programs": [], "streams": [{"width": {{Width}}, "height": {{Height}}, "r_frame_rate": "10/1", "avg_frame_rate": "10/1", "nb_read_packets": "{{Count}}"}]}""");
        Script("ffmpeg", $$"""
            case " $* " in *" -progress "*)
                printf '%s\n' "$@" > "{{dir.Path}}/ffmpeg-probe.args"
                cat > /dev/null
                echo "Input #0, matroska,webm, from 'pipe:0':" >&2
                echo "  Stream #0:0(eng): Video: vp9 (Profile 0), yuv420p(tv, progressive), {{Width}}x{{Height}}, SAR 1:1 DAR 4:3, 10 fps, 10 tbr, 1k tbn (default)" >&2
                printf 'frame=0\nprogress=continue\nframe={{Count}}\nprogress=end\n'
                exit 0;;
            esac
            printf '%s\n' "$@" > "{{dir.Path}}/ffmpeg.args"
            cat > "{{dir.Path}}/ffmpeg.stdin"
            {{ffmpegBefore}}
            sel=""
            for a in "$@"; do case "$a" in select=*) sel="$a";; esac; done
            for k in $(printf '%s' "$sel" | tr -c '0-9' ' '); do cat "{{dir.Path}}/frame$k.raw"; done
            {{ffmpegAfter}}
            """);
        if (withProbe)
            Script("ffprobe", $$"""
                printf '%s\n' "$@" > "{{dir.Path}}/ffprobe.args"
                cat > "{{dir.Path}}/ffprobe.stdin"
                cat "{{dir.Path}}/probe.json"
                """);
    }

    /// <summary>The fake ffmpeg's path (for <c>VideoOptions.FfmpegPath</c> or <c>--ffmpeg</c>).</summary>
    public string Ffmpeg => dir.File("ffmpeg");

    public string Folder => dir.Path;

    /// <summary>Arguments of the last run of the tool, or null when it never ran.</summary>
    public string[]? Arguments(string tool) => File.Exists(dir.File($"{tool}.args")) ? File.ReadAllLines(dir.File($"{tool}.args")) : null;

    /// <summary>What the tool read on stdin.</summary>
    public byte[] Stdin(string tool) => File.ReadAllBytes(dir.File($"{tool}.stdin"));

    /// <summary>Frame <paramref name="index"/>: a pattern that moves with the index, so every frame differs.</summary>
    public static byte[] Frame(int index)
    {
        var rgb = new byte[Width * Height * 3];
        for (int y = 0; y < Height; y++)
            for (int x = 0; x < Width; x++)
            {
                int p = (y * Width + x) * 3;
                rgb[p] = (byte)((x * 6 + index * 8) % 256);
                rgb[p + 1] = (byte)((y * 8 + index * 5) % 256);
                rgb[p + 2] = (byte)(((x + y) * 4 + index * 17) % 256);
            }
        return rgb;
    }

    /// <summary>The frames at <paramref name="indices"/> as PNG files in a new folder, in order.</summary>
    public string PngFolder(IEnumerable<int> indices)
    {
        var folder = Directory.CreateDirectory(dir.File($"png-{Guid.NewGuid():N}")).FullName;
        int n = 0;
        foreach (var i in indices)
        {
            using var image = Image.LoadPixelData<Rgb24>(Frame(i), Width, Height);
            image.SaveAsPng(Path.Combine(folder, $"f{n++:D3}.png"));
        }
        return folder;
    }

    void Script(string name, string body)
    {
        var path = dir.File(name);
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n", new UTF8Encoding(false));
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("The stand-in ffmpeg is a POSIX shell script.");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public void Dispose() => dir.Dispose();
}
