namespace LlavaModal.Cli.Toy.Audio;

/// <summary>Pitch register of a clip's beeps.</summary>
enum Pitch
{
    /// <summary>Roots 200-300 Hz.</summary>
    Low,
    /// <summary>Roots 500-700 Hz.</summary>
    Middle,
    /// <summary>Roots 1100-1500 Hz.</summary>
    High,
}

/// <summary>
/// One synthetic clip of the audio curriculum: 1 to 4 beeps of one pitch register, each a pure tone or a major chord
/// (root, third, fifth), all short (60-90 ms, fast) or all long (180-250 ms, slow), with or without background noise.
/// </summary>
/// <param name="Beeps">Number of beeps.</param>
/// <param name="Pitch">Register of the roots.</param>
/// <param name="Chord">Chords (three notes) instead of pure tones.</param>
/// <param name="Fast">Short beeps (fast rhythm) instead of long ones.</param>
/// <param name="Noise">White noise under the beeps.</param>
/// <param name="Events">Start and length of each beep, in seconds, and its root frequency in Hz.</param>
/// <param name="Seed">Seed of the noise and amplitudes.</param>
sealed record AudioScene(int Beeps, Pitch Pitch, bool Chord, bool Fast, bool Noise, IReadOnlyList<(double Start, double Length, double Root)> Events, int Seed)
{
    /// <summary>Name of the pitch as the answers say it.</summary>
    public string PitchName => Pitch switch { Pitch.Low => "low", Pitch.Middle => "middle", _ => "high" };

    /// <summary>Renders the clip as mono samples in [-1, 1] at <paramref name="sampleRate"/> Hz, <paramref name="seconds"/> long.</summary>
    public float[] Render(int sampleRate, double seconds)
    {
        var random = new Random(Seed);
        var x = new double[(int)Math.Round(sampleRate * seconds)];
        foreach (var (start, length, root) in Events)
        {
            double amplitude = 0.25 + 0.2 * random.NextDouble();
            double[] notes = Chord ? [root, root * 1.2599, root * 1.4983] : [root];
            int from = (int)(start * sampleRate), count = (int)(length * sampleRate);
            int ramp = Math.Max(1, (int)(0.01 * sampleRate));
            for (int i = 0; i < count && from + i < x.Length; i++)
            {
                // 10 ms fades: clicks at the edges would sound (and look in the mel spectrum) like extra events.
                double envelope = Math.Min(1, Math.Min(i, count - 1 - i) / (double)ramp);
                double t = (double)i / sampleRate, v = 0;
                foreach (var f in notes) v += Math.Sin(2 * Math.PI * f * t);
                x[from + i] += amplitude * envelope * v / notes.Length;
            }
        }
        if (Noise)
        {
            double level = 0.04 + 0.04 * random.NextDouble();
            for (int i = 0; i < x.Length; i++) x[i] += level * (random.NextDouble() * 2 - 1);
        }
        return x.Select(v => (float)Math.Clamp(v, -1, 1)).ToArray();
    }
}
