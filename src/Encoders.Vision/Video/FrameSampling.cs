namespace LlavaModal.Encoders.Vision.Video;

/// <summary>How a family's reference picks the frames of a video file it decodes.</summary>
enum FrameRule
{
    /// <summary>A fixed number of frames spread evenly (LLaVA-OneVision, LLaVA-NeXT-Video: transformers' video examples and processor).</summary>
    Uniform,

    /// <summary>Frames at a rate (2 per second), an even count, bounded (Qwen2-VL: <c>qwen_vl_utils</c>).</summary>
    FramesPerSecond,
}

/// <summary>
/// The frame indices the references sample from a decoded video of <c>total</c> frames; written out here because the
/// references do it in Python before their processors run (the processors use the frames they are handed).
/// </summary>
static class FrameSampling
{
    /// <summary>Qwen2-VL's frames come in pairs (<c>temporal_patch_size</c>, <c>FRAME_FACTOR</c> in <c>qwen_vl_utils</c>).</summary>
    const int Factor = 2;

    /// <summary><c>FPS_MIN_FRAMES</c> and <c>FPS_MAX_FRAMES</c> of <c>qwen_vl_utils</c>.</summary>
    const int FpsMinFrames = 4, FpsMaxFrames = 768;

    /// <summary>The indices for <paramref name="rule"/>.</summary>
    /// <param name="rule">The family's rule.</param>
    /// <param name="total">Frames in the video (at least 1).</param>
    /// <param name="rate">The video's average frame rate (frames per second), for <see cref="FrameRule.FramesPerSecond"/>.</param>
    /// <param name="options">The requested count (<see cref="VideoOptions.SampledFrames"/>), the rate and the frame limit.</param>
    public static int[] Indices(FrameRule rule, int total, double rate, VideoOptions options) => rule switch
    {
        FrameRule.Uniform => Uniform(total, Math.Min(options.SampledFrames ?? VideoOptions.DefaultSampledFrames, options.MaxFrames)),
        _ => PerSecond(total, rate, options.FramesPerSecond, options.SampledFrames, options.MaxFrames),
    };

    /// <summary>
    /// <paramref name="count"/> frames (all when the video is shorter) at <c>np.arange(0, total, total / count).astype(int)</c>:
    /// the start of each of <paramref name="count"/> equal parts, as transformers' LLaVA-OneVision and LLaVA-NeXT-Video
    /// examples sample a clip (and its video processors' <c>sample_frames</c> with <c>num_frames</c>).
    /// </summary>
    public static int[] Uniform(int total, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(total);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        count = Math.Min(count, total);
        double step = (double)total / count; // float64 as numpy computes it, truncated as astype(int) does
        return [.. Enumerable.Range(0, count).Select(i => (int)(i * step))];
    }

    /// <summary>
    /// Qwen2-VL's rule (<c>smart_nframes</c> then <c>torch.linspace(0, total - 1, n).round()</c> in <c>qwen_vl_utils</c>):
    /// <paramref name="fps"/> frames per second of the video, at least 4, at most the video's frames and
    /// <paramref name="maxFrames"/> (the reference's 768 when that is lower), rounded to an even count; a requested count is
    /// rounded to an even one instead. A one-frame video gives its frame (the processor repeats it to a pair).
    /// </summary>
    public static int[] PerSecond(int total, double rate, double fps, int? requested, int maxFrames)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(total);
        if (total < Factor) return [0];
        int upper = FloorBy(Math.Min(Math.Min(FpsMaxFrames, maxFrames), total));
        double n;
        if (requested is int r) n = RoundBy(r);
        else
        {
            if (!(rate > 0) || double.IsInfinity(rate)) throw new ArgumentOutOfRangeException(nameof(rate), rate, "The video's frame rate must be positive.");
            n = RoundBy(Math.Min(Math.Max(total / rate * fps, CeilBy(FpsMinFrames)), upper));
        }
        // The reference raises outside [2, total]; a request beyond the video takes all of it (as an animation's does).
        int count = (int)Math.Clamp(n, Factor, upper);
        return Linspace(total - 1, count);
    }

    /// <summary><c>torch.linspace(0, end, steps).round()</c> in float32, as torch computes it (first half from the start, second from the end), rounded half to even.</summary>
    static int[] Linspace(int end, int steps)
    {
        if (steps == 1) return [0];
        float step = (float)end / (steps - 1);
        int halfway = steps / 2;
        var indices = new int[steps];
        for (int i = 0; i < steps; i++)
        {
            float value = i < halfway ? step * i : end - (step * (steps - i - 1));
            indices[i] = (int)Math.Round(value, MidpointRounding.ToEven);
        }
        return indices;
    }

    /// <summary>Python's <c>round(x / 2) * 2</c> (half to even).</summary>
    static double RoundBy(double x) => Math.Round(x / Factor, MidpointRounding.ToEven) * Factor;

    static int CeilBy(int x) => (x + Factor - 1) / Factor * Factor;

    static int FloorBy(int x) => x / Factor * Factor;
}
