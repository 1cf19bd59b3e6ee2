using System.Text.RegularExpressions;
using LlavaModal.Core.Native;
using LlavaModal.Multimodal;
using LlavaModal.SemanticKernel.Services;
using LlavaModal.SemanticKernel.Settings;
using LlavaModal.Tests.Support;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using Xunit.Abstractions;

namespace LlavaModal.Tests.Packaging;

/// <summary>
/// The repository's packages, packed once (from the build the tests run on) into a local feed, and a NuGet
/// configuration that sees only that feed plus the packages this machine already restored: no network.
/// </summary>
public sealed class LocalFeedFixture : IDisposable
{
    static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);

    public LocalFeedFixture()
    {
        var pack = ChildProcess.Run(ChildProcess.RepositoryRoot, Limit, "dotnet",
            ["pack", "LlavaModal.sln", "-c", ChildProcess.Configuration, "--no-build", "--no-restore", "-o", Feed, "--disable-build-servers"]);
        PackTime = pack.Elapsed;
        if (pack.ExitCode != 0) throw new InvalidOperationException($"dotnet pack failed\n{pack.Output}");
        var semanticKernel = Directory.GetFiles(Feed, "LlavaModal.SemanticKernel.*.nupkg").Single();
        Version = Path.GetFileNameWithoutExtension(semanticKernel)["LlavaModal.SemanticKernel.".Length..];

        // The solution's restore put every dependency of the packages in the global packages folder: use it read-only as
        // a fallback folder, and a fresh global folder of our own so a package of the same version from an earlier run is never reused.
        var restored = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p
            ? p : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        File.WriteAllText(NuGetConfig, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config><add key="globalPackagesFolder" value="{Path.Combine(Root.Path, "packages")}" /></config>
              <packageSources><clear /><add key="llavamodal-local" value="{Feed}" /></packageSources>
              <fallbackPackageFolders><clear /><add key="restored" value="{restored}" /></fallbackPackageFolders>
            </configuration>
            """);
    }

    public TempDir Root { get; } = new();
    public string Feed => Path.Combine(Root.Path, "feed");
    /// <summary>In the root, so every project created below it finds it as a user's solution folder would.</summary>
    public string NuGetConfig => Path.Combine(Root.Path, "nuget.config");
    public string Version { get; }
    public TimeSpan PackTime { get; }

    public void Dispose() => Root.Dispose();
}

[CollectionDefinition(Name)]
public sealed class LocalFeedCollection : ICollectionFixture<LocalFeedFixture>
{
    public const string Name = "Local package feed";
}

/// <summary>
/// A developer who has never seen the repository: a new project outside it, the packages the README's "Install" section
/// names, its program verbatim, <c>dotnet build</c>, run. Also the CLI as a dotnet tool, and a project that forgot the runtime.
/// </summary>
[Collection(LocalFeedCollection.Name)]
public class PackageConsumerTests(LocalFeedFixture feed, ITestOutputHelper output)
{
    static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);

    /// <summary>The README's "Install" section: the packages its first bash block adds and its first C# block.</summary>
    internal static (IReadOnlyList<string> Packages, string Program) ReadmeInstall()
    {
        var readme = File.ReadAllText(Path.Combine(ChildProcess.RepositoryRoot, "README.md"));
        var start = readme.IndexOf("\n## Install\n", StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no \"## Install\" section");
        var end = readme.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        var section = readme[start..(end < 0 ? readme.Length : end)];
        var bash = Regex.Match(section, "```bash\n(.*?)```", RegexOptions.Singleline);
        var csharp = Regex.Match(section, "```csharp\n(.*?)```", RegexOptions.Singleline);
        Assert.True(bash.Success && csharp.Success, "the Install section needs a bash block and a csharp block");
        var packages = Regex.Matches(bash.Groups[1].Value, @"^dotnet add package (\S+)", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(packages);
        return (packages, csharp.Groups[1].Value);
    }

    string CreateProject(string name, IEnumerable<string> packages, string program)
    {
        var dir = Directory.CreateDirectory(Path.Combine(feed.Root.Path, name)).FullName;
        var references = string.Join("\n", packages.Select(p => $"""    <PackageReference Include="{p}" Version="{feed.Version}" />"""));
        // What `dotnet new console` writes, plus the references `dotnet add package` adds.
        File.WriteAllText(Path.Combine(dir, $"{name}.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
            {references}
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), program);
        var build = ChildProcess.Run(dir, Limit, "dotnet", ["build", "-c", "Release", "--disable-build-servers"]);
        output.WriteLine($"{name}: dotnet build {build.Elapsed.TotalSeconds:F1} s");
        Assert.True(build.ExitCode == 0, build.Output);
        return Path.Combine(dir, "bin", "Release", "net10.0", $"{name}.dll");
    }

    /// <summary>A folder laid out as the snippet expects: <c>models/llava-1.5-7b-hf</c> (the tiny LLaVA fixture) and <c>photo.jpg</c>.</summary>
    string SnippetFolder()
    {
        var dir = Directory.CreateDirectory(Path.Combine(feed.Root.Path, "work", Guid.NewGuid().ToString("N"))).FullName;
        Directory.CreateDirectory(Path.Combine(dir, "models"));
        Directory.CreateSymbolicLink(Path.Combine(dir, "models", "llava-1.5-7b-hf"), Path.GetFullPath(Fixtures.LlavaTinyA));
        File.Copy(Path.Combine(Fixtures.Images, "portrait_200x300.jpg"), Path.Combine(dir, "photo.jpg"));
        return dir;
    }

    [Fact]
    public async Task The_readme_install_section_runs_verbatim_from_the_packages_in_a_new_project()
    {
        output.WriteLine($"dotnet pack (all packages, the tool included): {feed.PackTime.TotalSeconds:F1} s");
        var (packages, program) = ReadmeInstall();
        Assert.Contains("LlavaModal.Runtime.Cpu", packages);
        var app = CreateProject("ReadmeApp", packages, program);

        var run = ChildProcess.Run(SnippetFolder(), Limit, "dotnet", [app]);
        output.WriteLine($"run: {run.Elapsed.TotalSeconds:F1} s");
        Assert.True(run.ExitCode == 0, run.Output);

        // The same request in this process, through the project's own build: the packaged library answers identically.
        using var model = MultimodalModel.Load(Fixtures.LlavaTinyA);
        var service = new LlavaChatCompletionService(model);
        var history = new ChatHistory("You describe images precisely.");
        history.AddUserMessage([new ImageContent(File.ReadAllBytes(Path.Combine(Fixtures.Images, "portrait_200x300.jpg")), "image/jpeg"), new TextContent("What is in this image?")]);
        var answer = await service.GetChatMessageContentAsync(history, new LlavaPromptExecutionSettings { MaxTokens = 256 });
        Assert.Equal($"{answer.Content} ({answer.Metadata!["FinishReason"]}, {answer.Metadata["CompletionTokens"]} tokens)\n", run.Stdout);
        Assert.Equal("", run.Stderr);

        // An unwritable cache for the compatible copy is named as such where the copy is needed, and harmless elsewhere.
        var blocked = Path.Combine(feed.Root.Path, "a-file");
        File.WriteAllText(blocked, "");
        var noCache = ChildProcess.Run(SnippetFolder(), Limit, "dotnet", [app], new Dictionary<string, string?> { ["LLAVAMODAL_NATIVE_CACHE"] = Path.Combine(blocked, "native") });
        if (LibStdCxx.HasVersion(ElfCompatPatcher.MissingSymbol, ElfCompatPatcher.MissingVersion))
            Assert.True(noCache.ExitCode == 0, noCache.Output);
        else
        {
            Assert.NotEqual(0, noCache.ExitCode);
            Assert.Contains("NativeRuntimeException", noCache.Stderr);
            Assert.Contains("LLAVAMODAL_NATIVE_CACHE", noCache.Stderr);
            Assert.DoesNotContain("TorchSharp-cpu", noCache.Stderr);
        }
    }

    [Fact]
    public void An_application_without_a_runtime_package_is_told_to_add_one()
    {
        var (packages, program) = ReadmeInstall();
        var app = CreateProject("NoRuntimeApp", packages.Where(p => p != "LlavaModal.Runtime.Cpu"), program);
        var run = ChildProcess.Run(SnippetFolder(), Limit, "dotnet", [app]);
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("NativeRuntimeException", run.Stderr);
        Assert.Contains("dotnet add package LlavaModal.Runtime.Cpu", run.Stderr);
        Assert.DoesNotContain("TorchSharp-cpu", run.Stderr);   // TorchSharp's own advice, wrong for LlavaModal users
    }

    [Fact]
    public void The_cli_installs_as_a_dotnet_tool_and_answers_with_its_own_toy_model()
    {
        var tools = Path.Combine(feed.Root.Path, "tools");
        var install = ChildProcess.Run(feed.Root.Path, Limit, "dotnet",
            ["tool", "install", "LlavaModal.Cli", "--version", feed.Version, "--tool-path", tools, "--configfile", feed.NuGetConfig]);
        output.WriteLine($"dotnet tool install: {install.Elapsed.TotalSeconds:F1} s");
        Assert.True(install.ExitCode == 0, install.Output);

        var image = Path.Combine(ChildProcess.RepositoryRoot, "models", "llava-modal-toy", "sample.png");
        var run = ChildProcess.Run(feed.Root.Path, Limit, Path.Combine(tools, "llava-modal"), ["generate", "--image", image, "--prompt", "How many objects are there?"]);
        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Equal("There are 3 objects.\n", run.Stdout);
    }

    [Fact]
    public void Every_package_has_a_readme_the_license_symbols_and_its_dependencies()
    {
        var ids = new[] { "Abstractions", "Core", "Tokenizers", "Decoder", "Encoders.Vision", "Encoders.Audio", "Multimodal", "SemanticKernel", "Training", "Server", "Runtime.Cpu", "Cli" }
            .Select(n => $"LlavaModal.{n}").ToList();
        foreach (var id in ids)
        {
            var path = Path.Combine(feed.Feed, $"{id}.{feed.Version}.nupkg");
            Assert.True(File.Exists(path), $"{id} was not packed");
            using var zip = System.IO.Compression.ZipFile.OpenRead(path);
            Assert.NotNull(zip.GetEntry("README.md"));
            var nuspec = new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open()).ReadToEnd();
            Assert.Contains("<license type=\"expression\">MIT</license>", nuspec);
            Assert.Contains("<readme>README.md</readme>", nuspec);
            Assert.Contains("<repository type=\"git\"", nuspec);
            var hasCode = id is not "LlavaModal.Runtime.Cpu";
            Assert.Equal(hasCode, File.Exists(Path.ChangeExtension(path, ".snupkg")));
            output.WriteLine($"{id}: {new FileInfo(path).Length / 1024.0:F0} KiB; {string.Join(", ", Regex.Matches(nuspec, "<dependency id=\"([^\"]+)\" version=\"([^\"]+)\"").Select(m => $"{m.Groups[1].Value} {m.Groups[2].Value}"))}");
        }
        using (var runtime = System.IO.Compression.ZipFile.OpenRead(Path.Combine(feed.Feed, $"LlavaModal.Runtime.Cpu.{feed.Version}.nupkg")))
        {
            var nuspec = new StreamReader(runtime.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open()).ReadToEnd();
            Assert.Contains("<dependency id=\"libtorch-cpu-linux-x64\" version=\"2.10.0\"", nuspec);
            Assert.Contains("<dependency id=\"TorchSharp\" version=\"0.107.0\"", nuspec);
        }
        // Libraries never bring a runtime: an application chooses CPU or CUDA.
        foreach (var id in ids.Where(i => i is not "LlavaModal.Runtime.Cpu" and not "LlavaModal.Cli"))
        {
            using var zip = System.IO.Compression.ZipFile.OpenRead(Path.Combine(feed.Feed, $"{id}.{feed.Version}.nupkg"));
            var nuspec = new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open()).ReadToEnd();
            Assert.DoesNotContain("libtorch-", nuspec);
        }
        // The tool is one package with everything inside (it has no dependencies).
        using var tool = System.IO.Compression.ZipFile.OpenRead(Path.Combine(feed.Feed, $"LlavaModal.Cli.{feed.Version}.nupkg"));
        Assert.Contains(tool.Entries, e => e.FullName.EndsWith("/runtimes/linux-x64/native/libtorch_cpu.so", StringComparison.Ordinal));
        Assert.Contains(tool.Entries, e => e.FullName.EndsWith("/models/llava-modal-toy/config.json", StringComparison.Ordinal));
        Assert.Contains(tool.Entries, e => e.FullName == "tools/net10.0/any/DotnetToolSettings.xml");
    }
}
