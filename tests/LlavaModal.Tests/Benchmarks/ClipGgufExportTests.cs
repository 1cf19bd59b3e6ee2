using LlavaModal.Abstractions.Modality;
using LlavaModal.Benchmarks;
using LlavaModal.Benchmarks.Gguf;
using LlavaModal.Cli;
using LlavaModal.Cli.Commands;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Encoders.Vision.Clip;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Benchmarks;

/// <summary>The LLaVA checkpoint and mmproj file that let <c>llamacpp-image</c> run llama.cpp's llava-cli on our weights.</summary>
public class ClipGgufExportTests
{
    [Fact]
    public void Mmproj_holds_the_clip_keys_and_every_tower_and_projector_tensor_under_llama_cpp_names()
    {
        using var dir = new TempDir();
        var llava = Fixtures.LlavaTinyA;
        var tower = ClipVisionConfig.Load(Path.Combine(llava, "config.json"));
        var path = dir.File("mmproj.gguf");
        ClipGgufExport.Write(llava, path, tower, projectionWidth: 64);

        var gguf = GgufReader.Open(path);
        Assert.Equal("clip", gguf.Metadata["general.architecture"]);
        Assert.Equal(0u, gguf.Metadata["general.file_type"]);
        Assert.Equal(true, gguf.Metadata["clip.has_vision_encoder"]);
        Assert.Equal(false, gguf.Metadata["clip.has_text_encoder"]);
        Assert.Equal("mlp", gguf.Metadata["clip.projector_type"]);
        Assert.Equal(false, gguf.Metadata["clip.use_gelu"]); // CLIP's quick_gelu
        Assert.Equal((uint)tower.NumHiddenLayers, gguf.Metadata["clip.vision.block_count"]);
        Assert.Equal((uint)tower.HiddenSize, gguf.Metadata["clip.vision.embedding_length"]);
        Assert.Equal((uint)tower.IntermediateSize, gguf.Metadata["clip.vision.feed_forward_length"]);
        Assert.Equal((uint)tower.NumAttentionHeads, gguf.Metadata["clip.vision.attention.head_count"]);
        Assert.Equal((uint)tower.ImageSize, gguf.Metadata["clip.vision.image_size"]);
        Assert.Equal((uint)tower.PatchSize, gguf.Metadata["clip.vision.patch_size"]);
        Assert.Equal(3L, gguf.Metadata["clip.vision.image_mean"]);

        // Embeddings and pre-norm (5), 16 per layer, the two projector layers (4); no post-norm (llava-1.5 never applies it).
        Assert.Equal(5 + 16 * tower.NumHiddenLayers + 4, gguf.Tensors.Count);
        var byName = gguf.Tensors.ToDictionary(t => t.Name);
        Assert.DoesNotContain("v.post_ln.weight", byName.Keys);
        Assert.Equal([tower.PatchSize, tower.PatchSize, 3, tower.HiddenSize], byName["v.patch_embd.weight"].Dims);
        Assert.Equal([tower.HiddenSize, tower.NumPositions], byName["v.position_embd.weight"].Dims);
        Assert.All(gguf.Tensors, t => Assert.Equal(GgmlType.F32, t.Type));

        using var checkpoint = SafeTensorsCheckpoint.Open(llava);
        // fc1 (hidden -> intermediate) is stored as ffn_down, as llama.cpp's converter names it and its loader reads it.
        Assert.Equal([tower.HiddenSize, tower.IntermediateSize], byName["v.blk.2.ffn_down.weight"].Dims);
        using var fc1 = checkpoint.Read("vision_tower.vision_model.encoder.layers.2.mlp.fc1.weight", ScalarType.Float32);
        using var stored = LlamaGgufExportTests.ReadTensor(path, gguf, byName["v.blk.2.ffn_down.weight"]);
        Assert.Equal(0.0, Parity.RelativeError(stored, fc1));
        using var linear2 = checkpoint.Read("multi_modal_projector.linear_2.bias", ScalarType.Float32);
        using var mm2 = LlamaGgufExportTests.ReadTensor(path, gguf, byName["mm.2.bias"]);
        Assert.Equal(0.0, Parity.RelativeError(mm2, linear2));

        var size = new FileInfo(path).Length;
        Assert.Throws<ArgumentException>(() => ClipGgufExport.Write(llava, path, tower, 64));
        Assert.Equal(size, new FileInfo(path).Length);
    }

    [Fact]
    public void The_benchmark_llava_loads_with_the_decoder_weights_and_256_image_tokens()
    {
        using var dir = new TempDir();
        var decoder = Path.Combine(dir.Path, "decoder");
        InitCommand.Write(decoder, Presets.Llama["tiny"], seed: 4, maxShardBytes: 1L << 30);
        var folder = Checkpoints.EnsureLlava70m(dir.Path, decoder);
        Assert.Equal(folder, Checkpoints.EnsureLlava70m(dir.Path, decoder)); // complete: reused, not rewritten

        using var model = MultimodalModel.Load(folder, [new LlavaVisionFactory()]);
        var image = ModalityInput.FromFile(Path.Combine(Fixtures.Images, "gradient_640x480.png"), "image");
        var layout = model.Layout(new MultimodalPrompt(model.Modalities.Single().PromptText + "\nhi", [image]));
        Assert.Equal(256, layout.Inputs.Single().Tokens);
        using var source = SafeTensorsCheckpoint.Open(decoder);
        using var written = SafeTensorsCheckpoint.Open(folder);
        using var expected = source.Read("model.layers.1.mlp.down_proj.weight");
        using var actual = written.Read("language_model.model.layers.1.mlp.down_proj.weight");
        Assert.Equal(0.0, Parity.RelativeError(actual, expected));
        Assert.Equal(Checkpoints.Llava70mTower.NumHiddenLayers, written.Names.Count(n => n.EndsWith("self_attn.q_proj.weight", StringComparison.Ordinal) && n.StartsWith("vision_tower.", StringComparison.Ordinal)));
    }
}
