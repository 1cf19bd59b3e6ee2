using LlavaModal.Abstractions;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.Multimodal;

public class LlavaCheckpointLayoutTests
{
    /// <summary>The llava-tiny-a fixture rewritten with the tensor names newer transformers versions save.</summary>
    static string NewLayoutCopy(TempDir dir)
    {
        foreach (var file in Directory.GetFiles(Fixtures.LlavaTinyA))
            if (Path.GetFileName(file) != "model.safetensors") File.Copy(file, Path.Combine(dir.Path, Path.GetFileName(file)));
        using var old = SafeTensorsFile.Open(Path.Combine(Fixtures.LlavaTinyA, "model.safetensors"));
        static string Rename(string n) =>
            n.StartsWith("language_model.model.", StringComparison.Ordinal) ? "model.language_model." + n["language_model.model.".Length..]
            : n == "language_model.lm_head.weight" ? "lm_head.weight"
            : "model." + n;
        var specs = old.Tensors.Values.Select(t => new TensorSpec(Rename(t.Name), t.Shape, t.ScalarType)).ToList();
        var byNew = old.Tensors.Keys.ToDictionary(Rename, n => n);
        SafeTensorsWriter.Write(dir.File("model.safetensors"), specs, s => old.Read(byNew[s.Name]));
        return dir.Path;
    }

    [Fact]
    public void The_newer_llava_hf_tensor_layout_loads_and_gives_the_same_logits()
    {
        using var dir = new TempDir();
        var path = NewLayoutCopy(dir);
        using (var check = SafeTensorsCheckpoint.Open(path))
        {
            Assert.True(check.Contains("model.language_model.layers.0.self_attn.q_proj.weight"));
            Assert.True(check.Contains("model.vision_tower.vision_model.pre_layrnorm.weight"));
            Assert.True(check.Contains("model.multi_modal_projector.linear_1.weight"));
            Assert.True(check.Contains("lm_head.weight"));
        }
        using var oldModel = MultimodalModel.Load(Fixtures.LlavaTinyA, [new LlavaVisionFactory()]);
        using var newModel = MultimodalModel.Load(path, [new LlavaVisionFactory()]);
        var prompt = new MultimodalPrompt("USER: <image>\nWhat is this? ASSISTANT:", [LlavaTinyFixture.ImageFile("img2")]);
        var (a, _, _) = oldModel.PromptLogits(prompt);
        var (b, _, _) = newModel.PromptLogits(prompt);
        Assert.True(a.equal(b).all().item<bool>(), "both layouts must load the same weights");
        a.Dispose();
        b.Dispose();
    }

    [Fact]
    public void A_declared_image_seq_length_that_the_tower_does_not_give_is_named()
    {
        using var dir = new TempDir();
        foreach (var file in Directory.GetFiles(Fixtures.LlavaTinyA)) File.Copy(file, Path.Combine(dir.Path, Path.GetFileName(file)));
        var config = File.ReadAllText(dir.File("config.json"));
        File.WriteAllText(dir.File("config.json"), config.Replace("\"image_token_index\"", "\"image_seq_length\": 100, \"image_token_index\""));
        var e = Assert.Throws<ConfigException>(() => MultimodalModel.Load(dir.Path, [new LlavaVisionFactory()]));
        Assert.Equal("image_seq_length", e.Key);
    }

    [Fact]
    public void Several_feature_layers_are_concatenated_and_need_a_matching_projector()
    {
        using var dir = new TempDir();
        foreach (var file in Directory.GetFiles(Fixtures.LlavaTinyA)) File.Copy(file, Path.Combine(dir.Path, Path.GetFileName(file)));
        var config = File.ReadAllText(dir.File("config.json"));
        File.WriteAllText(dir.File("config.json"), System.Text.RegularExpressions.Regex.Replace(config, "\"vision_feature_layer\":\\s*-2", "\"vision_feature_layer\": [-2, -1]"));
        // The checkpoint's projector takes 32 features; two layers give 64: a shape error naming the projector tensor.
        var e = Assert.Throws<CheckpointMismatchException>(() => MultimodalModel.Load(dir.Path, [new LlavaVisionFactory()]));
        Assert.Contains(e.WrongShape, w => w.StartsWith("multi_modal_projector.linear_1.weight", StringComparison.Ordinal));
    }
}
