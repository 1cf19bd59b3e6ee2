using LlavaModal.Abstractions;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Encoders.Vision.LlavaNext;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tests.Encoders.Vision.LlavaNext;
using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.Multimodal;

public class LlavaNextLoadingTests
{
    /// <summary>A copy of llava-next-tiny with its tensors renamed by <paramref name="rename"/> (null drops a tensor) and <paramref name="edit"/> applied to a file's text.</summary>
    static string Copy(TempDir dir, Func<string, string?>? rename = null, string? file = null, Func<string, string>? edit = null)
    {
        foreach (var f in Directory.GetFiles(LlavaNextReference.Directory))
            if (Path.GetFileName(f) != "model.safetensors") File.Copy(f, dir.File(Path.GetFileName(f)));
        if (file is not null) File.WriteAllText(dir.File(file), edit!(File.ReadAllText(dir.File(file))));
        rename ??= n => n;
        using var old = SafeTensorsFile.Open(Path.Combine(LlavaNextReference.Directory, "model.safetensors"));
        var kept = old.Tensors.Keys.Where(n => rename(n) is not null).ToDictionary(n => rename(n)!, n => n);
        SafeTensorsWriter.Write(dir.File("model.safetensors"), [.. kept.Select(kv => new TensorSpec(kv.Key, old.Tensors[kv.Value].Shape, old.Tensors[kv.Value].ScalarType))],
            s => old.Read(kept[s.Name]));
        return dir.Path;
    }

    static readonly MultimodalPrompt Prompt = new("USER: <image>\nWhat is this? ASSISTANT:", [LlavaNextReference.Image("tiny")]);

    [Fact]
    public void The_default_plugins_load_a_llava_next_folder_with_its_anyres_binding()
    {
        using var model = MultimodalModel.Load(LlavaNextReference.Directory);
        var binding = Assert.IsType<LlavaNextBinding>(Assert.Single(model.Modalities));
        Assert.Null(binding.Encoder.FixedTokenCount);
        Assert.Equal(new long[] { model.Decoder.Config.HiddenSize }, binding.ImageNewline.shape);
    }

    [Fact]
    public void The_newer_tensor_layout_with_model_prefix_gives_the_same_logits()
    {
        using var dir = new TempDir();
        var path = Copy(dir, n =>
            n.StartsWith("language_model.model.", StringComparison.Ordinal) ? "model.language_model." + n["language_model.model.".Length..]
            : n == "language_model.lm_head.weight" ? "lm_head.weight"
            : "model." + n);
        using (var check = SafeTensorsCheckpoint.Open(path)) Assert.True(check.Contains("model.image_newline"));
        using var oldModel = MultimodalModel.Load(LlavaNextReference.Directory);
        using var newModel = MultimodalModel.Load(path);
        var (a, _, _) = oldModel.PromptLogits(Prompt);
        var (b, _, _) = newModel.PromptLogits(Prompt);
        using (a)
        using (b)
            Assert.True(a.equal(b).all().item<bool>(), "both layouts must load the same weights");
    }

    [Fact]
    public void A_missing_image_newline_is_named()
    {
        using var dir = new TempDir();
        var path = Copy(dir, n => n == "image_newline" ? null : n);
        var e = Assert.ThrowsAny<CheckpointException>(() => MultimodalModel.Load(path));
        Assert.Contains("image_newline", e.Message);
    }

    [Fact]
    public void Pinpoints_that_differ_between_processor_and_model_are_refused_naming_the_file_and_key()
    {
        using var dir = new TempDir();
        var path = Copy(dir, file: "preprocessor_config.json", edit: t => t.Replace("[\n      32,\n      96\n    ]", "[\n      96,\n      96\n    ]"));
        var e = Assert.Throws<ConfigException>(() => MultimodalModel.Load(path));
        Assert.Equal("image_grid_pinpoints", e.Key);
        Assert.Contains("preprocessor_config.json", e.Message);
        Assert.Contains("[96, 96]", e.Message);
    }

    [Fact]
    public void Pinpoints_that_are_not_whole_tiles_are_refused()
    {
        using var dir = new TempDir();
        var path = Copy(dir, file: "config.json", edit: t => t.Replace("\"image_grid_pinpoints\": [", "\"image_grid_pinpoints\": [[40, 64], "));
        File.WriteAllText(dir.File("preprocessor_config.json"), File.ReadAllText(dir.File("preprocessor_config.json")).Replace("\"image_grid_pinpoints\": [", "\"image_grid_pinpoints\": [[40, 64], "));
        var e = Assert.Throws<ConfigException>(() => MultimodalModel.Load(path));
        Assert.Equal("image_grid_pinpoints", e.Key);
        Assert.Contains("[40, 64]", e.Message);
    }

    [Fact]
    public void The_full_feature_strategy_is_refused_because_anyres_cannot_lay_out_the_cls_token()
    {
        using var dir = new TempDir();
        var path = Copy(dir, file: "config.json", edit: t => t.Replace("\"vision_feature_select_strategy\": \"default\"", "\"vision_feature_select_strategy\": \"full\""));
        var e = Assert.Throws<ConfigException>(() => MultimodalModel.Load(path));
        Assert.Equal("vision_feature_select_strategy", e.Key);
    }

    [Fact]
    public void A_base_size_other_than_the_tile_size_reaches_the_tiles_through_the_crop()
    {
        // shortest_edge 40 with a 32 crop: the base image is resized to 40x40, every tile to 40 and then cropped to 32.
        using var dir = new TempDir();
        var path = Copy(dir, file: "preprocessor_config.json", edit: t => t.Replace("\"shortest_edge\": 32", "\"shortest_edge\": 40"));
        using var model = MultimodalModel.Load(path);
        var layout = model.Layout(Prompt);
        Assert.Equal(LlavaNextReference.Preprocessing("tiny").GetProperty("num_image_tokens").GetInt32(), Assert.Single(layout.Inputs).Tokens);
        var result = model.Generate(Prompt, new LlavaModal.Decoder.Generation.GenerationOptions { MaxNewTokens = 2 });
        Assert.Equal(2, result.GeneratedIds.Count);
    }
}
