using System.Text.Json.Nodes;

namespace LlavaModal.Tokenizers.Tests;

/// <summary>
/// Issue 15, 7: two added tokens with one content failed with "An item with the same key has already been added. Key: &lt;s&gt;",
/// naming no file. Now an <see cref="InvalidDataException"/> names the file, the content and both ids.
/// </summary>
public sealed class DuplicateAddedTokenTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("hftok-dup-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void A_content_given_to_two_ids_names_the_file_the_content_and_both_ids()
    {
        foreach (var file in Directory.GetFiles(TokenizerFixtures.Dir("tokenizer-cases"))) File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        var path = Path.Combine(dir, "tokenizer_config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        config["added_tokens_decoder"]!["500"] = new JsonObject { ["content"] = "<s>", ["special"] = true };
        File.WriteAllText(path, config.ToJsonString());
        var e = Assert.Throws<InvalidDataException>(() => HfTokenizer.FromPretrained(dir));
        Assert.Contains(path, e.Message);
        Assert.Contains("'<s>'", e.Message);
        Assert.Contains("1 and 500", e.Message);
    }

    [Fact]
    public async Task A_fifo_tokenizer_file_is_refused_without_blocking()
    {
        foreach (var file in Directory.GetFiles(TokenizerFixtures.Dir("tokenizer-cases"))) File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        File.Delete(Path.Combine(dir, "tokenizer.model"));
        using (var p = System.Diagnostics.Process.Start("mkfifo", [Path.Combine(dir, "tokenizer.model")])) p.WaitForExit();
        var task = Task.Run(() => Assert.Throws<InvalidDataException>(() => HfTokenizer.FromPretrained(dir)));
        Assert.Same(task, await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(5))));
        Assert.Contains("FIFO", (await task).Message);
    }
}
