using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using LlavaModal.Abstractions;
using LlavaModal.Encoders.Vision.Preprocessing;

namespace LlavaModal.Encoders.Vision.Video;

/// <summary>
/// The sampled frames of an encoded video file (MP4, WebM, MKV, MOV, AVI, ...), decoded by an ffmpeg executable: ffprobe
/// reads the first video stream's size, frame count (its packets, counted) and average rate (without ffprobe, ffmpeg
/// itself: the stream as it describes it, its packets counted by copying them to nowhere); the family's
/// <see cref="FrameRule"/> picks the indices; ffmpeg decodes the stream and writes only those frames as raw RGB
/// (<c>-f rawvideo -pix_fmt rgb24</c>) on stdout, read with exactly the expected size. Frames are taken as stored
/// (<c>-noautorotate</c>), as the references' decoders (decord, PyAV) give them.
/// </summary>
static partial class FfmpegFrames
{
    /// <summary>Decodes the sampled frames.</summary>
    /// <exception cref="VideoDecodeException">No ffmpeg, a failed or timed-out run, no video stream, or output that does not fit the video (with ffmpeg's error output).</exception>
    /// <exception cref="InputLimitException">Frames over the loader's pixel limit.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was cancelled (the process tree is killed).</exception>
    public static IReadOnlyList<RgbImage> Read(ReadOnlyMemory<byte> data, string source, string? mediaType, ImageLoaderOptions limits, VideoOptions options,
        FrameRule rule, CancellationToken cancellation)
    {
        var (ffmpeg, ffprobe) = FfmpegTools.Find(options, source, mediaType);
        if (data.IsEmpty) throw new VideoDecodeException(source, "the video file is empty.");
        string? folder = null;
        try
        {
            // A pipe unless ffmpeg must seek (an MP4/MOV with its index at the end): then a private temporary copy.
            string input = "pipe:0";
            ReadOnlyMemory<byte>? stdin = data;
            if (IsoMediaLayout.NeedsSeeking(data.Span))
            {
                folder = Directory.CreateTempSubdirectory("llava-video-").FullName;
                var file = Path.Combine(folder, "video");
                var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
                if (!OperatingSystem.IsWindows()) create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                using (var stream = new FileStream(file, create))
                    stream.Write(data.Span);
                input = "file:" + file;
                stdin = null;
            }
            // Only the one protocol the input needs: a crafted file cannot make ffmpeg open URLs or other files.
            string protocols = stdin is null ? "file" : "pipe";
            var probe = ffprobe is null
                ? ProbeWithFfmpeg(ffmpeg, input, protocols, stdin, source, options, cancellation)
                : Probe(ffprobe, input, protocols, stdin, source, options, cancellation);
            if ((long)probe.Width * probe.Height > limits.MaxPixels)
                throw new InputLimitException("ImageLoaderOptions.MaxPixels", limits.MaxPixels, (long)probe.Width * probe.Height,
                    $"{source}: {probe.Width}x{probe.Height} frames are over the limit of {limits.MaxPixels} pixels (ImageLoaderOptions.MaxPixels).");
            var indices = FrameSampling.Indices(rule, probe.Frames, probe.Rate, options);
            if (indices.Length > options.MaxFrames)
                throw new InputLimitException("VideoOptions.MaxFrames", options.MaxFrames, indices.Length,
                    $"{source}: {indices.Length} frames sampled, over the limit of {options.MaxFrames} (LlavaVisionOptions.Video.MaxFrames); sample fewer (VideoOptions.SampledFrames, CLI --video-frames) or raise the limit.");
            return Decode(ffmpeg, input, protocols, stdin, probe, indices, source, options, cancellation);
        }
        finally
        {
            if (folder is not null)
                try { Directory.Delete(folder, true); }
                catch (IOException) { }
        }
    }

    /// <summary>The first video stream: its size, frame count and average frame rate.</summary>
    sealed record StreamInfo(int Width, int Height, int Frames, double Rate);

    static StreamInfo Probe(string ffprobe, string input, string protocols, ReadOnlyMemory<byte>? stdin, string source, VideoOptions options, CancellationToken cancellation)
    {
        var output = new MemoryStream();
        string[] arguments = ["-v", "error", "-protocol_whitelist", protocols, "-select_streams", "v:0", "-count_packets",
            "-show_entries", "stream=width,height,nb_read_packets,avg_frame_rate,r_frame_rate", "-of", "json", "-i", input];
        var (exit, tail) = ToolProcess.Run(ffprobe, arguments, stdin, stdout => CopyBounded(stdout, output, 1 << 20, source), options.FfmpegTimeout, source, cancellation);
        if (exit != 0) throw new VideoDecodeException(source, $"ffprobe could not read the video (exit code {exit}).", tail);
        try
        {
            using var json = JsonDocument.Parse(output.ToArray());
            if (!json.RootElement.TryGetProperty("streams", out var streams) || streams.ValueKind != JsonValueKind.Array || streams.GetArrayLength() == 0)
                throw new VideoDecodeException(source, "ffprobe found no video stream in it.", tail);
            var s = streams[0];
            int width = Int(s, "width"), height = Int(s, "height"), frames = Int(s, "nb_read_packets");
            if (width < 1 || height < 1) throw new VideoDecodeException(source, $"ffprobe reports a {width}x{height} video stream.", tail);
            if (frames < 1) throw new VideoDecodeException(source, "ffprobe counted no frames in its video stream.", tail);
            double rate = Rate(s, "avg_frame_rate") is double r and > 0 ? r : Rate(s, "r_frame_rate") ?? 0;
            return new StreamInfo(width, height, frames, rate);
        }
        catch (Exception e) when (e is JsonException or FormatException or OverflowException or InvalidOperationException or KeyNotFoundException)
        {
            throw new VideoDecodeException(source, $"ffprobe's report is not the JSON expected: {e.Message}", tail, e);
        }
    }

    /// <summary>
    /// Without ffprobe: ffmpeg copies the first video stream to the null muxer, counting its packets in <c>-progress</c>'s
    /// last <c>frame=</c>, and describes the stream on stderr (<c>Stream #0:0: Video: h264 ..., 640x480 [SAR 1:1 DAR 4:3], 25 fps, ...</c>).
    /// </summary>
    static StreamInfo ProbeWithFfmpeg(string ffmpeg, string input, string protocols, ReadOnlyMemory<byte>? stdin, string source, VideoOptions options, CancellationToken cancellation)
    {
        var output = new MemoryStream();
        string[] arguments = ["-nostdin", "-hide_banner", "-nostats", "-protocol_whitelist", protocols, "-noautorotate", "-i", input,
            "-map", "0:v:0", "-c", "copy", "-f", "null", "-progress", "pipe:1", "-"];
        var (exit, log) = ToolProcess.Run(ffmpeg, arguments, stdin, stdout => CopyBounded(stdout, output, 1 << 20, source), options.FfmpegTimeout, source, cancellation, 1 << 16);
        string tail = log.Length > ToolProcess.TailChars ? log[^ToolProcess.TailChars..] : log;
        if (exit != 0) throw new VideoDecodeException(source, $"ffmpeg could not read the video (exit code {exit}).", tail);
        var stream = log.Split('\n').FirstOrDefault(line => line.TrimStart().StartsWith("Stream #", StringComparison.Ordinal) && line.Contains(": Video: ", StringComparison.Ordinal))
            ?? throw new VideoDecodeException(source, "ffmpeg found no video stream in it.", tail);
        var size = StreamSize().Match(stream);
        if (!size.Success) throw new VideoDecodeException(source, $"ffmpeg's description of the video stream gives no size: {stream.Trim()}", tail);
        int width = int.Parse(size.Groups[1].Value, CultureInfo.InvariantCulture), height = int.Parse(size.Groups[2].Value, CultureInfo.InvariantCulture);
        if (width < 1 || height < 1) throw new VideoDecodeException(source, $"ffmpeg reports a {width}x{height} video stream.", tail);
        var counted = ProgressFrames().Matches(Encoding.ASCII.GetString(output.ToArray()));
        int frames = counted.Count > 0 && int.TryParse(counted[^1].Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : 0;
        if (frames < 1) throw new VideoDecodeException(source, "ffmpeg counted no frames in its video stream.", tail);
        var rate = StreamRate().Match(stream);
        double fps = rate.Success ? double.Parse(rate.Groups[1].Value, CultureInfo.InvariantCulture) * (rate.Groups[2].Value == "k" ? 1000 : 1) : 0;
        return new StreamInfo(width, height, frames, fps);
    }

    [GeneratedRegex(@"[ ,](\d{1,5})x(\d{1,5})[ ,\]]")]
    private static partial Regex StreamSize();

    [GeneratedRegex(@"([0-9.]+)(k?) (?:fps|tbr)\b")]
    private static partial Regex StreamRate();

    [GeneratedRegex(@"(?m)^frame=\s*([0-9]+)\s*$")]
    private static partial Regex ProgressFrames();

    /// <summary>An integer that ffprobe writes as a number (width) or a string (packet counts).</summary>
    static int Int(JsonElement stream, string key)
    {
        var value = stream.GetProperty(key);
        return value.ValueKind == JsonValueKind.String ? int.Parse(value.GetString()!, NumberStyles.None, CultureInfo.InvariantCulture) : value.GetInt32();
    }

    /// <summary>A rate written as a fraction ("30000/1001"); null when absent or 0/0.</summary>
    static double? Rate(JsonElement stream, string key)
    {
        if (!stream.TryGetProperty(key, out var value) || value.GetString() is not { } text) return null;
        var parts = text.Split('/');
        double num = double.Parse(parts[0], CultureInfo.InvariantCulture), den = parts.Length > 1 ? double.Parse(parts[1], CultureInfo.InvariantCulture) : 1;
        return den > 0 && num > 0 ? num / den : null;
    }

    static IReadOnlyList<RgbImage> Decode(string ffmpeg, string input, string protocols, ReadOnlyMemory<byte>? stdin, StreamInfo probe, int[] indices,
        string source, VideoOptions options, CancellationToken cancellation)
    {
        try { return Decode(ffmpeg, input, protocols, stdin, probe, indices, source, options, "-fps_mode", cancellation); }
        catch (VideoDecodeException e) when (e.StderrTail?.Contains("fps_mode", StringComparison.Ordinal) == true)
        {
            // ffmpeg before 5.1 names the option -vsync (later versions still take it, deprecated).
            return Decode(ffmpeg, input, protocols, stdin, probe, indices, source, options, "-vsync", cancellation);
        }
    }

    static IReadOnlyList<RgbImage> Decode(string ffmpeg, string input, string protocols, ReadOnlyMemory<byte>? stdin, StreamInfo probe, int[] indices,
        string source, VideoOptions options, string syncOption, CancellationToken cancellation)
    {
        var wanted = indices.Distinct().Order().ToArray();
        // select keeps the frames whose decode index n is wanted; passthrough keeps ffmpeg from repeating them to fill the gaps at a constant rate.
        var select = "select=" + string.Join('+', wanted.Select(i => string.Create(CultureInfo.InvariantCulture, $"eq(n\\,{i})")));
        string[] arguments = ["-nostdin", "-hide_banner", "-loglevel", "error", "-protocol_whitelist", protocols, "-noautorotate", "-i", input,
            "-map", "0:v:0", "-an", "-sn", "-dn", "-vf", select, syncOption, "passthrough", "-frames:v", wanted.Length.ToString(CultureInfo.InvariantCulture),
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"];
        int frameBytes = checked(probe.Width * probe.Height * 3);
        var frames = new List<byte[]>(wanted.Length);
        string? problem = null;
        var (exit, tail) = ToolProcess.Run(ffmpeg, arguments, stdin, stdout =>
        {
            for (int i = 0; i < wanted.Length; i++)
            {
                cancellation.ThrowIfCancellationRequested();
                var frame = new byte[frameBytes];
                int got = stdout.ReadAtLeast(frame, frameBytes, throwOnEndOfStream: false);
                if (got < frameBytes)
                {
                    problem = $"ffmpeg gave {frames.Count} of the {wanted.Length} frames expected ({probe.Width}x{probe.Height} RGB, frames {string.Join(", ", wanted)} of {probe.Frames})" +
                        (got > 0 ? $" and {got} bytes of another." : ".");
                    return;
                }
                frames.Add(frame);
            }
            Span<byte> extra = stackalloc byte[1];
            if (stdout.Read(extra) > 0)
                throw new VideoDecodeException(source, $"ffmpeg wrote more than the {wanted.Length} frames of {probe.Width}x{probe.Height} RGB expected; its frames are not the size ffprobe reported.");
        }, options.FfmpegTimeout, source, cancellation);
        if (exit != 0) throw new VideoDecodeException(source, $"ffmpeg could not decode the video (exit code {exit}).", tail);
        if (problem is not null) throw new VideoDecodeException(source, problem, tail);
        var byIndex = wanted.Select((index, k) => (index, k)).ToDictionary(p => p.index, p => frames[p.k]);
        return [.. indices.Select(i => new RgbImage(probe.Width, probe.Height, byIndex[i]))];
    }

    static void CopyBounded(Stream from, MemoryStream to, int limit, string source)
    {
        var buffer = new byte[8192];
        int n;
        while ((n = from.Read(buffer)) > 0)
        {
            if (to.Length + n > limit) throw new VideoDecodeException(source, $"ffprobe wrote more than {limit} bytes of report.");
            to.Write(buffer, 0, n);
        }
    }
}
