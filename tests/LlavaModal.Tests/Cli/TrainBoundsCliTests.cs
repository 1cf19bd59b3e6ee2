using LlavaModal.Cli.Toy;
using LlavaModal.Tests.Support;
using LlavaModal.Tests.Training;

namespace LlavaModal.Tests.Cli;

/// <summary>
/// Issue 15, 3 and 7, for <c>train</c>: <c>--threads 100000</c> hung, <c>--batch-size 1000000</c> on 20 samples took
/// more than 6 GB, and <c>--max-grad-norm NaN</c> trained, failed writing its state and left a partial output folder.
/// </summary>
public class TrainBoundsCliTests
{
    static (TempDir Dir, string Model, string Data, string Images) Setup()
    {
        var dir = new TempDir();
        using (var model = TrainingTestModels.Create()) model.Save(dir.File("model"));
        var output = Curriculum.Write(dir.File("data"), 6, 1, imageSize: 32);
        return (dir, dir.File("model"), output.Stage2Path, output.ImageFolder);
    }

    static CliRunner.Result Train(string model, string data, string images, string output, params string[] extra) =>
        CliRunner.Run(["train", "--stage", "2", "--model", model, "--data", data, "--images", images, "--out", output, "--eval-fraction", "0", .. extra]);

    [Theory]
    [InlineData("--threads", "100000", "--threads")]
    [InlineData("--threads", "0", "--threads")]
    [InlineData("--batch-size", "1000000", "batch size")]
    [InlineData("--max-grad-norm", "NaN", "max grad norm")]
    [InlineData("--lr", "Infinity", "learning rate")]
    public void Out_of_range_settings_are_refused_before_training_and_leave_no_output(string option, string value, string named)
    {
        var (dir, model, data, images) = Setup();
        using var _ = dir;
        var r = Train(model, data, images, dir.File("out"), "--steps", "1", option, value);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(named, r.Stderr);
        Assert.False(Directory.Exists(dir.File("out")));
    }

    [Fact]
    public void A_run_that_fails_part_way_leaves_no_partial_output_folder()
    {
        var (dir, model, data, images) = Setup();
        using var _ = dir;
        // The first step is saved; a learning rate of 1e30 makes the next loss infinite, which stops the run.
        var r = Train(model, data, images, dir.File("out"), "--steps", "4", "--save-every", "1", "--lr", "1e30", "--batch-size", "2");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("loss", r.Stderr);
        Assert.False(Directory.Exists(dir.File("out")));
    }
}
