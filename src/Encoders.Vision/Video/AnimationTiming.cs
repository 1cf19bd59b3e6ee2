namespace LlavaModal.Encoders.Vision.Video;

/// <summary>
/// How long an animation's frames show, and so its frame rate, for sampling an animated GIF, WebP or PNG as a video file
/// is sampled (<see cref="FrameSampling"/>): the rate is frames / seconds shown. A frame whose stored duration is 10 ms or
/// less (0 included, common in GIFs meaning "as fast as possible") counts as 100 ms, as web browsers play it (Chromium and
/// Firefox apply that rule to GIF, WebP and APNG alike), so a GIF of zero delays is a 10 fps clip.
/// </summary>
static class AnimationTiming
{
    /// <summary>Stored durations up to this many milliseconds are not honoured by browsers.</summary>
    public const double ShortestMs = 10;

    /// <summary>What such a frame shows for, in milliseconds.</summary>
    public const double DefaultMs = 100;

    /// <summary>How long a frame of stored duration <paramref name="ms"/> shows.</summary>
    public static double Shown(double ms) => ms <= ShortestMs ? DefaultMs : ms;

    /// <summary>The animation's average frame rate (frames per second shown).</summary>
    public static double Rate(IReadOnlyList<double> durationsMs) => durationsMs.Count / (durationsMs.Sum(Shown) / 1000);

    /// <summary>The frame indices <paramref name="rule"/> takes from an animation with these frame durations (milliseconds).</summary>
    public static int[] Pick(FrameRule rule, IReadOnlyList<double> durationsMs, VideoOptions options) =>
        FrameSampling.Indices(rule, Math.Max(1, durationsMs.Count), durationsMs.Count == 0 ? 1 / (DefaultMs / 1000) : Rate(durationsMs), options);
}
