using System.Text.Json.Nodes;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tests.Encoders.Vision.Qwen2VL;
using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.Multimodal;

/// <summary>Configs and media a Qwen2-VL folder refuses, each with a typed error naming the file, key or input.</summary>
public class Qwen2VLLoadingTests
{
    static string Copy(TempDir dir, string? file = null, Action<JsonObject>? edit = null)
    {
        foreach (var f in Directory.GetFiles(Qwen2VLReference.Directory))
        {
            var target = dir.File(Path.GetFileName(f));
            File.Copy(f, target);
            File.SetAttributes(target, FileAttributes.Normal);
        }
        if (file is not null)
        {
            var json = JsonNode.Parse(File.ReadAllText(dir.File(file)))!.AsObject();
            edit!(json);
            File.WriteAllText(dir.File(file), json.ToJsonString());
        }
        return dir.Path;
    }

    static ConfigException LoadFails(string path) => Assert.Throws<ConfigException>(() => MultimodalModel.Load(path, [new LlavaVisionFactory()]));

    [Fact]
    public void An_mrope_section_that_does_not_split_the_head_is_named()
    {
        using var dir = new TempDir();
        var e = LoadFails(Copy(dir, "config.json", c => c["rope_scaling"]!["mrope_section"] = new JsonArray(2, 3, 4)));
        Assert.Equal("rope_scaling.mrope_section", e.Key);
        Assert.Contains("8", e.Message);
    }

    [Fact]
    public void The_released_mrope_spelling_loads_and_another_rope_type_is_refused()
    {
        using var dir = new TempDir();
        var path = Copy(dir, "config.json", c => c["rope_scaling"] = new JsonObject { ["type"] = "mrope", ["mrope_section"] = new JsonArray(2, 3, 3) });
        using (var model = MultimodalModel.Load(path, [new LlavaVisionFactory()])) Assert.Equal(3, model.Decoder.Config.PositionDimensions);
        using var other = new TempDir();
        var e = LoadFails(Copy(other, "config.json", c => c["rope_scaling"] = new JsonObject { ["type"] = "linear", ["factor"] = 2, ["mrope_section"] = new JsonArray(2, 3, 3) }));
        Assert.StartsWith("rope_scaling", e.Key);
    }

    [Fact]
    public void A_processor_patch_size_other_than_the_towers_is_named()
    {
        using var dir = new TempDir();
        var e = LoadFails(Copy(dir, "preprocessor_config.json", c => c["patch_size"] = 14));
        Assert.Equal("patch_size", e.Key);
        Assert.EndsWith("preprocessor_config.json", e.Path);
    }

    [Fact]
    public void A_merger_width_other_than_the_decoders_is_named()
    {
        using var dir = new TempDir();
        var e = LoadFails(Copy(dir, "config.json", c => c["vision_config"]!["hidden_size"] = 48));
        Assert.Equal("vision_config.hidden_size", e.Key);
    }

    [Fact]
    public void A_tower_deeper_than_the_checkpoint_is_refused_before_it_is_built()
    {
        using var dir = new TempDir();
        var e = LoadFails(Copy(dir, "config.json", c => c["vision_config"]!["depth"] = 100000));
        Assert.Equal("vision_config.depth", e.Key);
    }

    [Fact]
    public void An_odd_number_of_video_frames_is_refused_naming_the_count()
    {
        using var frames = new TempDir();
        Qwen2VLReference.WriteVideoFrames(frames.Path);
        File.Delete(frames.File("frame4.png"));
        using var model = MultimodalModel.Load(Qwen2VLReference.Directory, [new LlavaVisionFactory()]);
        var e = Assert.Throws<LlavaModalException>(() => model.Layout(new MultimodalPrompt("USER: <|vision_start|><|video_pad|><|vision_end|>What? ASSISTANT:", [ModalityInput.FromFolder(frames.Path)])));
        Assert.Contains("3 frames", e.Message);
        // A sample of two frames fills one temporal patch.
        var layout = model.Layout(new MultimodalPrompt("USER: <|vision_start|><|video_pad|><|vision_end|>What? ASSISTANT:", [ModalityInput.FromFolder(frames.Path, sample: 2)]));
        Assert.Equal(12, Assert.Single(layout.Inputs).Tokens);
    }
}
