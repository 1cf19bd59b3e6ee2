using System.Diagnostics;
using LlavaModal.Tests.Multimodal;
using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.SemanticKernel;

/// <summary>Runs the built sample (<c>samples/LlavaModal.Samples.Agent</c>) as a user would: its own process from its own output folder, a model folder and an image.</summary>
[Collection(LlavaServicesCollection.Name)]
public class AgentSampleTests(LlavaServicesFixture fx)
{
    static (int ExitCode, string Stdout, string Stderr) Run(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(SampleDll());
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            p.Kill(true);
            throw new TimeoutException("the sample did not finish");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>
    /// The sample's own build output (same configuration and framework as the tests): the copy in the test folder would
    /// run against the test's dependencies, which take some assemblies from the ASP.NET Core framework the sample lacks.
    /// </summary>
    static string SampleDll()
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var root = output;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "LlavaModal.sln"))) root = root.Parent;
        Assert.NotNull(root);
        var dll = Path.Combine(root!.FullName, "samples", "LlavaModal.Samples.Agent", "bin", output.Parent!.Name, output.Name, "LlavaModal.Samples.Agent.dll");
        Assert.True(File.Exists(dll), $"build the sample first: {dll} is missing");
        return dll;
    }

    [Fact]
    public void The_sample_asks_an_agent_about_an_image_and_prints_the_models_answer()
    {
        var image = Path.Combine(Fixtures.Images, LlavaTinyFixture.ImageFiles["img0"]);
        var (code, stdout, stderr) = Run(Fixtures.LlavaTinyA, image, "6");
        Assert.True(code == 0, stderr);
        var expected = fx.Direct([new(LlavaModal.Tokenizers.Chat.TurnRole.System, "You are an assistant that describes images precisely."), new(LlavaModal.Tokenizers.Chat.TurnRole.User, "What is in this image?")],
            [LlavaTinyFixture.ImageFile("img0")], new() { MaxNewTokens = 6 });
        Assert.Contains($"Describer: {expected.Text}\n", stdout);
        Assert.Contains($"[length; {expected.PromptTokens} prompt tokens, 6 completion tokens]", stdout);
    }

    [Fact]
    public void The_sample_reports_a_bad_model_folder_clearly()
    {
        var (code, _, stderr) = Run("/nonexistent/model", Path.Combine(Fixtures.Images, LlavaTinyFixture.ImageFiles["img0"]), "2");
        Assert.Equal(1, code);
        Assert.Contains("model folder not found", stderr);
    }
}
