using System.Globalization;
using System.Text.Json;

namespace LlavaModal.Samples.MoleculeGraph.Tests.Curriculum;

/// <summary>The shipped graph model's quality bar, as a user runs it: <c>dotnet run --project samples/LlavaModal.Samples.MoleculeGraph -- eval --json</c>.</summary>
public class GraphModelQualityTests
{
    /// <summary>Seeds no part of the training used (molecules: seed 1; the recipe's eval: 1001).</summary>
    [Theory]
    [InlineData(2024)]
    [InlineData(4242)]
    public void The_shipped_graph_model_answers_at_least_95_percent_of_questions_about_fresh_molecules(int seed)
    {
        var (code, stdout, stderr) = Shipped.Run("eval", "--scenes", "200", "--seed", seed.ToString(CultureInfo.InvariantCulture), "--json", "--threads", "1");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal(["by_rings", "by_type", "overall", "scenes"], root.EnumerateObject().Select(p => p.Name).Order());
        Assert.Equal(200, root.GetProperty("scenes").GetInt32());
        Assert.Equal(["amine", "carbon", "carbonyl", "halogen", "hydroxyl", "nitrogen", "oxygen", "rings", "sulfur"], root.GetProperty("by_type").EnumerateObject().Select(p => p.Name).Order());
        Assert.True(root.GetProperty("overall").GetDouble() >= 0.95, $"seed {seed}: {stdout}");
    }

    [Fact]
    public void Bad_usage_and_bad_input_are_one_line_errors()
    {
        var (code, _, stderr) = Shipped.Run("eval", "--scenes", "0");
        Assert.Equal(2, code);
        Assert.Contains("--scenes must be at least 1", stderr, StringComparison.Ordinal);
        (code, _, stderr) = Shipped.Run("ask", "--smiles", "C1CC", "--question", "How many rings are there?");
        Assert.Equal(1, code);
        Assert.Contains("invalid SMILES at character 2: ring closure 1 is opened here and never closed", stderr, StringComparison.Ordinal);
    }
}
