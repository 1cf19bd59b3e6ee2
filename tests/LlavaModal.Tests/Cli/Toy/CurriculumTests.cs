using LlavaModal.Cli.Toy;
using LlavaModal.Tests.Support;
using LlavaModal.Training.Data;

namespace LlavaModal.Tests.Cli.Toy;

public class CurriculumTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void Scenes_are_reproducible_and_every_question_has_one_answer()
    {
        var a = new SceneGenerator(5);
        var b = new SceneGenerator(5);
        for (int i = 0; i < 50; i++)
        {
            var s = a.Next();
            Assert.Equal(s.Objects, b.Next().Objects);
            Assert.InRange(s.Objects.Count, 1, SceneGenerator.MaxObjects);
            Assert.Equal(s.Objects.Count, s.Objects.Select(o => o.Color.Name).Distinct().Count());
            Assert.Contains(s.Objects.GroupBy(o => o.Shape), g => g.Count() == 1);
            // Every object is visible: it owns pixels in the rendered image.
            var image = s.Render();
            foreach (var o in s.Objects)
                Assert.Contains(Enumerable.Range(0, s.Size * s.Size), p => s.ObjectAt(p % s.Size, p / s.Size) == o);
            Assert.Equal(s.Size * s.Size * 3, image.Pixels.Length);
            // Patch-aligned: centred on a patch corner, radius 3/4 of a patch or one patch.
            Assert.All(s.Objects, o => Assert.True(o.X % 8 == 0 && o.Y % 8 == 0 && o.Radius is 6 or 8, $"{o}"));
        }
    }

    [Fact]
    public void Answers_name_the_object_asked_about_right_before_the_true_attribute()
    {
        var generator = new SceneGenerator(11);
        var random = new Random(3);
        for (int i = 0; i < 100; i++)
        {
            var scene = generator.Next();
            var color = Curriculum.Ask(QuestionType.Color, scene, random);
            var shapeWord = color.Text.Split(' ')[^1].TrimEnd('?');
            var named = Assert.Single(scene.Objects, o => o.ShapeName == shapeWord);
            Assert.Equal($"The {shapeWord}'s {named.Color.Name}.", color.Answer);
            Assert.Equal(named.Color.Name, color.Attribute);

            var shape = Curriculum.Ask(QuestionType.Shape, scene, random);
            var colorWord = shape.Text.Split(' ')[^2];
            var owner = Assert.Single(scene.Objects, o => o.Color.Name == colorWord);
            Assert.Equal($"It is a {colorWord} {owner.ShapeName}.", shape.Answer);

            var count = Curriculum.Ask(QuestionType.Count, scene, random);
            Assert.Equal(scene.Objects.Count == 1 ? "There is 1 object." : $"There are {scene.Objects.Count} objects.", count.Answer);
        }
    }

    [Fact]
    public void Free_placement_is_still_available()
    {
        var s = new SceneGenerator(5, 64, patchSize: 0).Next();
        Assert.InRange(s.Objects.Count, 1, SceneGenerator.MaxObjects);
        Assert.Throws<ArgumentException>(() => new SceneGenerator(5, 64, patchSize: 7));
    }

    [Fact]
    public void Synth_writes_llava_json_with_images_multi_turn_and_text_only_samples()
    {
        using var dir = new TempDir();
        var o = Curriculum.Write(dir.Path, 40, 2);
        var stage1 = LlavaDataFile.Load(o.Stage1Path);
        var stage2 = LlavaDataFile.Load(o.Stage2Path);
        Assert.Equal(40, stage1.Count);
        Assert.Equal(42, stage2.Count);
        Assert.All(stage1, s => Assert.True(File.Exists(Path.Combine(o.ImageFolder, s.Image!))));
        Assert.All(stage2.Where(s => s.Image is not null), s => Assert.Equal(6, s.Conversations.Count));
        Assert.StartsWith("<image>\n", stage2[0].Conversations[0].Value);
        Assert.Equal(2, stage2.Count(s => s.Image is null));
    }

    /// <summary>
    /// The shortened curriculum CI runs: the whole recipe with tiny models and few steps. Chance is about 25% overall
    /// (colour 1/6, shape 1/3, count 1/4); the model must read the image, the count most of all.
    /// </summary>
    [Fact]
    public void The_short_curriculum_runs_end_to_end_lowers_the_loss_and_answers_well_above_chance()
    {
        using var dir = new TempDir();
        var result = ToyRecipe.Run(dir.File("work"), dir.File("model"), RecipeOptions.Quick, log: output.WriteLine);
        Assert.True(result.Stage2.FinalLoss < result.Stage2.FirstLoss / 4, $"stage 2 loss {result.Stage2.FirstLoss} -> {result.Stage2.FinalLoss}");
        Assert.True(result.Stage2.EvalLoss < result.Stage2.InitialEvalLoss / 4, $"stage 2 held-out loss {result.Stage2.InitialEvalLoss} -> {result.Stage2.EvalLoss}");
        Assert.True(result.Vision.PatchColorAccuracy > 0.8, $"vision pretraining patch colour accuracy {result.Vision.PatchColorAccuracy}");
        Assert.Equal(RecipeOptions.Quick.EvalScenes * 3, result.Eval.Questions);
        Assert.True(result.Eval.Overall > 0.5, $"overall accuracy {result.Eval.Overall} (chance about 0.25): " + string.Join(", ", result.Eval.ByType.Select(kv => $"{kv.Key} {kv.Value}")));
        Assert.True(result.Eval.ByType["count"] > 0.8, $"count accuracy {result.Eval.ByType["count"]} (chance 0.25)");
    }
}
