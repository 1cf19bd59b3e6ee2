using System.Globalization;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Training.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace LlavaModal.Cli.Toy;

/// <summary>A question type of the curriculum.</summary>
/// <remarks>
/// Answers are short sentences whose token just before the attribute names the object asked about ("The circle's
/// red.", "It is a green circle."), so the language model predicts the attribute from a position that says which
/// object to look at. With single-word answers the toy model never learnt to bind the attribute to the named object
/// (it answered about the image as a whole: colour 42-57% on two-object scenes, about chance); with "The circle is
/// red." (the shape two tokens back) colour binding formed in some training runs and not in others.
/// </remarks>
enum QuestionType
{
    /// <summary>"What color is the SHAPE?" (asked about a shape that occurs once) → "The SHAPE's COLOR."</summary>
    Color,
    /// <summary>"What shape is the COLOR object?" (colours are distinct within a scene) → "It is a COLOR SHAPE."</summary>
    Shape,
    /// <summary>"How many objects are there?" → "There are N objects." ("There is 1 object.").</summary>
    Count,
}

/// <summary>A question about a scene with its expected answer.</summary>
/// <param name="Type">Question type.</param>
/// <param name="Text">The question.</param>
/// <param name="Answer">The expected answer, a short sentence (see <see cref="QuestionType"/>).</param>
/// <param name="Attribute">The attribute the answer states (a colour, a shape or a digit).</param>
sealed record SceneQuestion(QuestionType Type, string Text, string Answer, string Attribute);

/// <summary>
/// The synthetic curriculum: captions of scenes (stage-1 data, LLaVA's "describe" pairs), question/answer
/// conversations about them (stage-2 data, multi-turn), a few text-only conversations, and the text the language
/// model is pretrained on. Questions are unambiguous by construction (see <see cref="SceneGenerator"/>).
/// </summary>
static class Curriculum
{
    /// <summary>The canonical phrasing of each question type, the one <c>eval</c> asks.</summary>
    public static SceneQuestion Ask(QuestionType type, Scene scene, Random random) => Ask(type, scene, random, 0);

    static readonly string[][] Phrasings =
    [
        ["What color is the {0}?", "What is the color of the {0}?", "Which color does the {0} have?"],
        ["What shape is the {0} object?", "What is the shape of the {0} object?", "Which shape is {0}?"],
        ["How many objects are there?", "How many shapes are in the image?", "Count the objects."],
    ];

    static readonly string[] Describe = ["Describe the image.", "What is in the picture?", "Give a short description of the image."];

    static SceneQuestion Ask(QuestionType type, Scene scene, Random random, int phrasing)
    {
        var template = Phrasings[(int)type][phrasing];
        switch (type)
        {
            case QuestionType.Color:
                var unique = scene.Objects.GroupBy(o => o.Shape).Where(g => g.Count() == 1).Select(g => g.Single()).ToList();
                var target = unique[random.Next(unique.Count)];
                return new(type, string.Format(CultureInfo.InvariantCulture, template, target.ShapeName), $"The {target.ShapeName}'s {target.Color.Name}.", target.Color.Name);
            case QuestionType.Shape:
                var o = scene.Objects[random.Next(scene.Objects.Count)];
                return new(type, string.Format(CultureInfo.InvariantCulture, template, o.Color.Name), $"It is a {o.Color.Name} {o.ShapeName}.", o.ShapeName);
            default:
                int n = scene.Objects.Count;
                return new(type, template, n == 1 ? "There is 1 object." : $"There are {n} objects.", n.ToString(CultureInfo.InvariantCulture));
        }
    }

    /// <summary>The caption of a scene: count, then each object left to right ("2 objects: a large red circle and a small blue square.").</summary>
    public static string Caption(Scene scene)
    {
        var parts = scene.Objects.Select(o => $"a {(o.Large ? "large" : "small")} {o.Color.Name} {o.ShapeName}").ToList();
        var list = parts.Count == 1 ? parts[0] : string.Join(", ", parts.Take(parts.Count - 1)) + " and " + parts[^1];
        return $"{scene.Objects.Count} object{(scene.Objects.Count == 1 ? "" : "s")}: {list}.";
    }

    static readonly (string Q, string A)[] TextOnly =
    [
        ("How many sides does a triangle have?", "3"),
        ("How many sides does a square have?", "4"),
        ("How many corners does a circle have?", "0"),
        ("Which shape is round?", "circle"),
        ("What color do you get by mixing red and yellow?", "orange"),
        ("What color do you get by mixing blue and yellow?", "green"),
        ("What color do you get by mixing red and blue?", "purple"),
    ];

    /// <summary>What <see cref="Write"/> produced.</summary>
    /// <param name="Stage1Path">Captions (stage-1 data).</param>
    /// <param name="Stage2Path">Conversations (stage-2 data).</param>
    /// <param name="ImageFolder">The images.</param>
    /// <param name="Stage1">The caption samples.</param>
    /// <param name="Stage2">The conversation samples.</param>
    /// <param name="Scenes">The scenes, by image id.</param>
    public sealed record Output(string Stage1Path, string Stage2Path, string ImageFolder, IReadOnlyList<LlavaSample> Stage1, IReadOnlyList<LlavaSample> Stage2, IReadOnlyList<Scene> Scenes);

    /// <summary>
    /// Generates <paramref name="count"/> scenes from <paramref name="seed"/> and writes <c>images/scene-NNNNNN.png</c>,
    /// <c>stage1.json</c> (one caption per scene) and <c>stage2.json</c> (one conversation per scene asking every question
    /// type in a random order and phrasing, plus text-only conversations, one per 20 scenes) in LLaVA's format.
    /// </summary>
    public static Output Write(string directory, int count, int seed, int imageSize = 64, int patchSize = 8)
    {
        if (count < 1) throw new ArgumentException($"count must be at least 1, got {count}.");
        var images = Path.Combine(directory, "images");
        Directory.CreateDirectory(images);
        var generator = new SceneGenerator(seed, imageSize, patchSize);
        var random = new Random(seed ^ 0x0ddba11);
        var stage1 = new List<LlavaSample>();
        var stage2 = new List<LlavaSample>();
        var scenes = new List<Scene>();
        for (int i = 0; i < count; i++)
        {
            var scene = generator.Next();
            scenes.Add(scene);
            var id = $"scene-{i:D6}";
            var file = id + ".png";
            SavePng(scene.Render(), Path.Combine(images, file));
            stage1.Add(new LlavaSample(id, file,
            [
                new("human", LlavaDataFile.ImagePlaceholder + "\n" + Describe[random.Next(Describe.Length)]),
                new("gpt", Caption(scene)),
            ]));
            var turns = new List<LlavaTurn>();
            foreach (var type in Enum.GetValues<QuestionType>().OrderBy(_ => random.Next()))
            {
                var q = Ask(type, scene, random, random.Next(Phrasings[(int)type].Length));
                turns.Add(new("human", (turns.Count == 0 ? LlavaDataFile.ImagePlaceholder + "\n" : "") + q.Text));
                turns.Add(new("gpt", q.Answer));
            }
            stage2.Add(new LlavaSample(id, file, turns));
            if (i % 20 == 19)
            {
                var (q, a) = TextOnly[random.Next(TextOnly.Length)];
                stage2.Add(new LlavaSample($"text-{i:D6}", null, [new("human", q), new("gpt", a)]));
            }
        }
        var s1 = Path.Combine(directory, "stage1.json");
        var s2 = Path.Combine(directory, "stage2.json");
        LlavaDataFile.Save(s1, stage1);
        LlavaDataFile.Save(s2, stage2);
        return new Output(s1, s2, images, stage1, stage2, scenes);
    }

    /// <summary>Writes an RGB image as PNG.</summary>
    public static void SavePng(RgbImage image, string path)
    {
        using var img = Image.LoadPixelData<Rgb24>(image.Pixels, image.Width, image.Height);
        img.SaveAsPng(path);
    }

    /// <summary>Encodes an RGB image as PNG bytes.</summary>
    public static byte[] PngBytes(RgbImage image)
    {
        using var img = Image.LoadPixelData<Rgb24>(image.Pixels, image.Width, image.Height);
        using var stream = new MemoryStream();
        img.SaveAsPng(stream);
        return stream.ToArray();
    }
}
