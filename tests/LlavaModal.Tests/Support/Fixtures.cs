namespace LlavaModal.Tests.Support;

/// <summary>Paths of the reference fixtures copied next to the test assembly.</summary>
public static class Fixtures
{
    public static string Root => Path.Combine(AppContext.BaseDirectory, "fixtures");
    public static string Path_(params string[] parts) => Path.Combine([Root, .. parts]);
    public static string LlamaTiny => Path.Combine(Root, "llama-tiny");
    public static string LlavaTinyA => Path.Combine(Root, "llava-tiny-a");
    public static string Qwen2Tiny => Path.Combine(Root, "qwen2-tiny");
    public static string LlavaInterleaveTiny => Path.Combine(Root, "llava-interleave-tiny");
    public static string TokenizerCases => Path.Combine(Root, "tokenizer-cases");
    public static string Images => Path.Combine(Root, "images");
}

/// <summary>A temporary folder deleted when disposed.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "llavamodal-tests", Guid.NewGuid().ToString("N"));
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}
