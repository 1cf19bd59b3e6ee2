namespace LlavaModal.Cli.Toy.Audio;

/// <summary>Draws <see cref="AudioScene"/>s from a seed: the same seed gives the same clips.</summary>
/// <param name="seed">Seed.</param>
/// <param name="seconds">Clip length; every beep and gap fits inside it.</param>
sealed class AudioSceneGenerator(int seed, double seconds = AudioCurriculum.ClipSeconds)
{
    /// <summary>Most beeps in a clip.</summary>
    public const int MaxBeeps = 4;

    readonly Random random = new(seed);

    /// <summary>The next clip.</summary>
    public AudioScene Next()
    {
        int beeps = random.Next(1, MaxBeeps + 1);
        var pitch = (Pitch)random.Next(3);
        bool chord = random.Next(2) == 1, fast = random.Next(2) == 1, noise = random.Next(2) == 1;
        var (lo, hi) = pitch switch { Pitch.Low => (200.0, 300.0), Pitch.Middle => (500.0, 700.0), _ => (1100.0, 1500.0) };
        double root = lo + (hi - lo) * random.NextDouble();
        var lengths = Enumerable.Range(0, beeps).Select(_ => fast ? 0.06 + 0.03 * random.NextDouble() : 0.18 + 0.07 * random.NextDouble()).ToList();
        // Gaps of at least 120 ms keep beeps apart by more than one pooled encoder token (80 ms).
        var gaps = Enumerable.Range(0, beeps - 1).Select(_ => 0.12 + 0.1 * random.NextDouble()).ToList();
        double used = lengths.Sum() + gaps.Sum();
        double t = 0.05 + (seconds - 0.1 - used) * random.NextDouble();
        var events = new List<(double, double, double)>();
        for (int i = 0; i < beeps; i++)
        {
            events.Add((t, lengths[i], root));
            t += lengths[i] + (i < gaps.Count ? gaps[i] : 0);
        }
        return new AudioScene(beeps, pitch, chord, fast, noise, events, random.Next());
    }
}
