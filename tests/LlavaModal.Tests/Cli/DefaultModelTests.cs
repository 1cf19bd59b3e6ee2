using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.Cli;

/// <summary>The shipped toy model (models/llava-modal-toy, copied next to the CLI) as the default of generate and chat.</summary>
public class DefaultModelTests
{
    static string ModelDir => Path.Combine(AppContext.BaseDirectory, "models", "llava-modal-toy");
    static string Sample => Path.Combine(ModelDir, "sample.png");

    [Fact]
    public void The_toy_model_ships_next_to_the_cli()
    {
        foreach (var f in new[] { "config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json", "preprocessor_config.json", "generation_config.json", "MODEL_CARD.md", "sample.png" })
            Assert.True(File.Exists(Path.Combine(ModelDir, f)), $"{f} is missing from {ModelDir}");
    }

    [Fact]
    public void Generate_without_model_uses_the_toy_model_and_reads_the_sample_image()
    {
        var r = CliRunner.Run("generate", "--image", Sample, "--prompt", "How many objects are there?");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("There are 3 objects.", r.Stdout.Trim());
    }

    /// <summary>The quality bar, on seeds no part of the recipe used (training scenes: seed 2; recipe eval: 1002).</summary>
    [Theory]
    [InlineData(2024)]
    [InlineData(4242)]
    [InlineData(31337)]
    public void The_toy_model_answers_at_least_95_percent_of_questions_about_fresh_scenes(int seed)
    {
        var r = CliRunner.Run("eval", "--scenes", "200", "--seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json", "--threads", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = System.Text.Json.JsonDocument.Parse(r.Stdout);
        double overall = doc.RootElement.GetProperty("overall").GetDouble();
        Assert.True(overall >= 0.95, $"seed {seed}: {r.Stdout}");
    }

    [Theory]
    [InlineData("int8")]
    [InlineData("int4")]
    public void The_toy_model_keeps_95_percent_with_quantized_weights(string format)
    {
        var r = CliRunner.Run("eval", "--scenes", "200", "--seed", "2024", "--json", "--threads", "1", "--weights", format);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = System.Text.Json.JsonDocument.Parse(r.Stdout);
        double overall = doc.RootElement.GetProperty("overall").GetDouble();
        Assert.True(overall >= 0.95, $"{format}: {r.Stdout}");
    }

    [Fact]
    public void A_quantized_copy_of_the_toy_model_answers_like_the_original()
    {
        var output = Path.Combine(Path.GetTempPath(), $"toy-int8-{Guid.NewGuid():N}");
        try
        {
            var q = CliRunner.Run("quantize", "--model", Path.GetDirectoryName(Sample)!, "--out", output, "--format", "int8");
            Assert.True(q.ExitCode == 0, q.Stderr);
            Assert.Contains("layers as int8", q.Stdout);
            var r = CliRunner.Run("generate", "--model", output, "--image", Sample, "--prompt", "How many objects are there?");
            Assert.True(r.ExitCode == 0, r.Stderr);
            Assert.Equal("There are 3 objects.", r.Stdout.Trim());
            var again = CliRunner.Run("quantize", "--model", Path.GetDirectoryName(Sample)!, "--out", output, "--format", "int4");
            Assert.NotEqual(0, again.ExitCode);
            Assert.Contains("not empty", again.Stderr);
        }
        finally
        {
            if (Directory.Exists(output)) Directory.Delete(output, true);
        }
    }

    [Fact]
    public void Chat_reads_turns_from_piped_stdin_and_keeps_the_history()
    {
        var r = CliRunner.RunWithInput("How many objects are there?\nWhat color is the circle?\n", "chat", "--image", Sample);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(2, lines.Length);
        Assert.Equal("There are 3 objects.", lines[0]);
        Assert.Equal("The circle's red.", lines[1]);
    }

    [Fact]
    public void Eval_json_reports_accuracy_per_type_and_per_object_count_consistently()
    {
        var r = CliRunner.Run("eval", "--scenes", "12", "--seed", "31", "--json", "--threads", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = System.Text.Json.JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        Assert.Equal(12, root.GetProperty("scenes").GetInt32());
        var byType = root.GetProperty("by_type").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());
        Assert.Equal(new[] { "color", "count", "shape" }, byType.Keys.Order());
        // Every type is asked once per scene, so overall is the mean of the per-type accuracies.
        Assert.Equal(byType.Values.Average(), root.GetProperty("overall").GetDouble(), 3);
        foreach (var type in root.GetProperty("by_objects").EnumerateObject())
        {
            Assert.Contains(type.Name, byType.Keys);
            foreach (var n in type.Value.EnumerateObject())
            {
                Assert.InRange(int.Parse(n.Name, System.Globalization.CultureInfo.InvariantCulture), 1, 4);
                Assert.InRange(n.Value.GetDouble(), 0, 1);
            }
        }
    }

    [Fact]
    public void Chat_stops_at_an_empty_line()
    {
        var r = CliRunner.RunWithInput("How many objects are there?\n\nWhat color is the circle?\n", "chat", "--image", Sample);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Single(r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }
}
