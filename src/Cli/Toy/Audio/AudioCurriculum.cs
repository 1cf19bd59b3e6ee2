using System.Globalization;
using LlavaModal.Encoders.Audio.Features;
using LlavaModal.Training.Data;
using NAudio.Wave;

namespace LlavaModal.Cli.Toy.Audio;

/// <summary>A question type of the audio curriculum.</summary>
enum AudioQuestionType
{
    /// <summary>"How many beeps are there?" → "There are N beeps." ("There is 1 beep.").</summary>
    Count,
    /// <summary>"What is the pitch?" → "The pitch is low|middle|high."</summary>
    Pitch,
    /// <summary>"Is it a tone or a chord?" → "The sound is a tone|chord."</summary>
    Sound,
    /// <summary>"Is the rhythm fast or slow?" → "The rhythm is fast|slow."</summary>
    Rhythm,
    /// <summary>"Is there background noise?" → "The background is noisy|quiet."</summary>
    Noise,
}

/// <summary>A question about a clip with its expected answer.</summary>
/// <param name="Type">Question type.</param>
/// <param name="Text">The question.</param>
/// <param name="Answer">The expected answer sentence.</param>
sealed record AudioQuestion(AudioQuestionType Type, string Text, string Answer);

/// <summary>
/// The synthetic audio curriculum: clips of beeps (<see cref="AudioScene"/>) written as 16-bit WAV files, captions
/// (stage-1 data) and question/answer conversations about them (stage-2 data) in LLaVA's JSON with a <c>media</c> list.
/// Answers name what is asked right before the attribute ("The pitch is high."), as the image curriculum's do.
/// </summary>
static class AudioCurriculum
{
    /// <summary>Clip length in seconds (the toy encoder's window: <see cref="Features"/>'s <c>chunk_length</c>).</summary>
    public const int ClipSeconds = 2;

    /// <summary>The placeholder of the audio plugin.</summary>
    public const string Placeholder = "<audio>";

    /// <summary>
    /// The toy audio encoder's feature extractor: 8 kHz (beeps stay below 2.3 kHz), 40 mel bins, 2 s windows, hop 160:
    /// 100 frames, 50 encoder positions, 25 tokens after pooling. Whisper's own 30 s windows would be 750 tokens per clip.
    /// </summary>
    public static WhisperFeatureConfig Features { get; } = new() { FeatureSize = 40, SamplingRate = 8000, HopLength = 160, ChunkLength = ClipSeconds, NFft = 400 };

    static readonly string[][] Phrasings =
    [
        ["How many beeps are there?", "Count the beeps.", "How many beeps do you hear?"],
        ["What is the pitch?", "Is the pitch low, middle or high?", "How high is the pitch?"],
        ["Is it a tone or a chord?", "Are the beeps tones or chords?", "Does it play tones or chords?"],
        ["Is the rhythm fast or slow?", "Are the beeps fast or slow?", "How fast is the rhythm?"],
        ["Is there background noise?", "Is the background noisy or quiet?", "Is there any noise?"],
    ];

    static readonly string[] Describe = ["Describe the sound.", "What do you hear?", "Give a short description of the audio."];

    /// <summary>The canonical phrasing of a question type, the one <c>eval --modality audio</c> asks.</summary>
    public static AudioQuestion Ask(AudioQuestionType type, AudioScene scene) => Ask(type, scene, 0);

    static AudioQuestion Ask(AudioQuestionType type, AudioScene scene, int phrasing)
    {
        var text = Phrasings[(int)type][phrasing];
        var answer = type switch
        {
            AudioQuestionType.Count => scene.Beeps == 1 ? "There is 1 beep." : string.Create(CultureInfo.InvariantCulture, $"There are {scene.Beeps} beeps."),
            AudioQuestionType.Pitch => $"The pitch is {scene.PitchName}.",
            AudioQuestionType.Sound => $"The sound is a {(scene.Chord ? "chord" : "tone")}.",
            AudioQuestionType.Rhythm => $"The rhythm is {(scene.Fast ? "fast" : "slow")}.",
            _ => $"The background is {(scene.Noise ? "noisy" : "quiet")}.",
        };
        return new AudioQuestion(type, text, answer);
    }

    /// <summary>The caption of a clip: "3 fast high chords, noisy background."</summary>
    public static string Caption(AudioScene s) =>
        string.Create(CultureInfo.InvariantCulture, $"{s.Beeps} {(s.Fast ? "fast" : "slow")} {s.PitchName} {(s.Chord ? "chord" : "tone")}{(s.Beeps == 1 ? "" : "s")}, {(s.Noise ? "noisy" : "quiet")} background.");

    /// <summary>What <see cref="Write"/> produced.</summary>
    /// <param name="Stage1Path">Captions (stage-1 data).</param>
    /// <param name="Stage2Path">Conversations (stage-2 data).</param>
    /// <param name="MediaFolder">The folder the samples' <c>media</c> paths are relative to (<c>--images</c>).</param>
    /// <param name="Stage1">The captions.</param>
    /// <param name="Stage2">The conversations.</param>
    /// <param name="Scenes">The clips.</param>
    public sealed record Output(string Stage1Path, string Stage2Path, string MediaFolder, IReadOnlyList<LlavaSample> Stage1, IReadOnlyList<LlavaSample> Stage2, IReadOnlyList<AudioScene> Scenes);

    /// <summary>
    /// Generates <paramref name="count"/> clips from <paramref name="seed"/> and writes <c>audio/clip-NNNNNN.wav</c>,
    /// <c>stage1.json</c> (one caption per clip) and <c>stage2.json</c> (one conversation per clip asking three of the
    /// question types in a random order and phrasing).
    /// </summary>
    public static Output Write(string directory, int count, int seed)
    {
        if (count < 1) throw new ArgumentException($"count must be at least 1, got {count}.");
        Directory.CreateDirectory(Path.Combine(directory, "audio"));
        var generator = new AudioSceneGenerator(seed);
        var random = new Random(seed ^ 0x0a0d10);
        var stage1 = new List<LlavaSample>();
        var stage2 = new List<LlavaSample>();
        var scenes = new List<AudioScene>();
        for (int i = 0; i < count; i++)
        {
            var scene = generator.Next();
            scenes.Add(scene);
            var id = $"clip-{i:D6}";
            var file = $"audio/{id}.wav";
            File.WriteAllBytes(Path.Combine(directory, file), WavBytes(scene));
            LlavaMedia[] media = [new("audio", file)];
            stage1.Add(new LlavaSample(id, null, [new("human", Placeholder + "\n" + Describe[random.Next(Describe.Length)]), new("gpt", Caption(scene))], media));
            var turns = new List<LlavaTurn>();
            foreach (var type in Enum.GetValues<AudioQuestionType>().OrderBy(_ => random.Next()).Take(3))
            {
                var q = Ask(type, scene, random.Next(Phrasings[(int)type].Length));
                turns.Add(new("human", (turns.Count == 0 ? Placeholder + "\n" : "") + q.Text));
                turns.Add(new("gpt", q.Answer));
            }
            stage2.Add(new LlavaSample(id, null, turns, media));
        }
        var s1 = Path.Combine(directory, "stage1.json");
        var s2 = Path.Combine(directory, "stage2.json");
        LlavaDataFile.Save(s1, stage1);
        LlavaDataFile.Save(s2, stage2);
        return new Output(s1, s2, directory, stage1, stage2, scenes);
    }

    /// <summary>A clip as a 16-bit mono WAV file at the curriculum's rate.</summary>
    public static byte[] WavBytes(AudioScene scene)
    {
        var samples = scene.Render(Features.SamplingRate, ClipSeconds);
        using var stream = new MemoryStream();
        using (var writer = new WaveFileWriter(stream, new WaveFormat(Features.SamplingRate, 16, 1)))
            writer.WriteSamples(samples, 0, samples.Length);
        return stream.ToArray();
    }
}
