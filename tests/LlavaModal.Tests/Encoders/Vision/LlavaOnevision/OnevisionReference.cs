using System.Text.Json;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.Encoders.Vision.LlavaOnevision;

/// <summary>The llava-onevision-tiny fixture: its folder, its expected files, its images and its video by key.</summary>
public static class OnevisionReference
{
    public static string Directory => Fixtures.Path_("llava-onevision-tiny");

    public static string Expected(string file) => Path.Combine(Directory, "expected", file);

    public static JsonElement Index { get; } = JsonDocument.Parse(File.ReadAllText(Expected("index.json"))).RootElement;

    public static TheoryData<string> Images()
    {
        var data = new TheoryData<string>();
        foreach (var key in Index.GetProperty("images").EnumerateObject()) data.Add(key.Name);
        return data;
    }

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var c in Index.GetProperty("cases").GetProperty("single").EnumerateObject()) data.Add(c.Name);
        return data;
    }

    public static TheoryData<string> FullLogitCases()
    {
        var data = new TheoryData<string>();
        using var logits = Open("logits.safetensors");
        foreach (var name in logits.Tensors.Keys.Where(k => k.EndsWith(".inputs_embeds", StringComparison.Ordinal)))
            data.Add(name[..^".inputs_embeds".Length]);
        return data;
    }

    public static string ImagePath(string key) => Path.Combine(Directory, Index.GetProperty("images").GetProperty(key).GetProperty("file").GetString()!);

    public static ModalityInput Image(string key) => ModalityInput.FromFile(ImagePath(key), "image");

    public static JsonElement Preprocessing(string key) => Index.GetProperty("preprocessing").GetProperty(key);

    public static JsonElement Case(string name) => Index.GetProperty("cases").GetProperty("single").GetProperty(name);

    public static int[] Ints(JsonElement e) => [.. e.EnumerateArray().Select(x => x.GetInt32())];

    public static SafeTensorsFile Open(string file) => SafeTensorsFile.Open(Expected(file));

    /// <summary>Writes the reference video's frames (<c>video0.frames_u8</c>) as lossless PNGs <c>frame1.png</c> ... into <paramref name="folder"/>.</summary>
    public static void WriteVideoFrames(string folder, string key = "video0") => FrameFiles.Write(Expected("inputs.safetensors"), $"{key}.frames_u8", folder);
}
