using System.Text.Json;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Encoders.Vision.LlavaNext;
using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.Encoders.Vision.LlavaNext;

/// <summary>The llava-next-tiny fixture: its folder, its expected files and its images by key.</summary>
public static class LlavaNextReference
{
    public static string Directory => Fixtures.Path_("llava-next-tiny");

    public static string Expected(string file) => Path.Combine(Directory, "expected", file);

    public static JsonElement Index { get; } = JsonDocument.Parse(File.ReadAllText(Expected("index.json"))).RootElement;

    /// <summary>Image keys of the fixture (land, port, wide2, tall, wide3, tiny, square).</summary>
    public static IEnumerable<string> ImageKeys => Index.GetProperty("images").EnumerateObject().Select(p => p.Name);

    public static TheoryData<string> Images()
    {
        var data = new TheoryData<string>();
        foreach (var key in ImageKeys) data.Add(key);
        return data;
    }

    public static string ImagePath(string key) => Path.Combine(Directory, Index.GetProperty("images").GetProperty(key).GetProperty("file").GetString()!);

    public static ModalityInput Image(string key) => ModalityInput.FromFile(ImagePath(key), "image");

    public static JsonElement Preprocessing(string key) => Index.GetProperty("preprocessing").GetProperty(key);

    public static JsonElement Case(string name) => Index.GetProperty("cases").GetProperty("single").GetProperty(name);

    public static string Prompt(string key) => Index.GetProperty("prompts").GetProperty(key).GetString()!;

    public static int[] Ints(JsonElement e) => [.. e.EnumerateArray().Select(x => x.GetInt32())];

    /// <summary>The processor settings the reference used, built from the fixture's own files.</summary>
    public static LlavaNextImageProcessor Processor()
    {
        var settings = Index.GetProperty("processor_settings").GetProperty("image_processor");
        var pinpoints = settings.GetProperty("image_grid_pinpoints").EnumerateArray().Select(p => new GridPinpoint(p[0].GetInt32(), p[1].GetInt32())).ToList();
        int tile = settings.GetProperty("crop_size").GetProperty("height").GetInt32();
        int patch = Index.GetProperty("processor_settings").GetProperty("processor").GetProperty("patch_size").GetInt32();
        var config = LlavaModal.Encoders.Vision.Preprocessing.ImageProcessorConfig.Load(Path.Combine(Directory, "preprocessor_config.json"));
        return new LlavaNextImageProcessor(config, new AnyResSettings(pinpoints, tile, tile / patch));
    }

    public static SafeTensorsFile Open(string file) => SafeTensorsFile.Open(Expected(file));
}
