using LlavaModal.Abstractions;
using LlavaModal.Core.Kernels;
using LlavaModal.Core.Quantization;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Loading;
using LlavaModal.Multimodal.Quantization;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Multimodal;

public sealed class CheckpointQuantizerTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("quantize").FullName;

    public void Dispose() => Directory.Delete(root, true);

    static Tensor Logits(string directory, WeightFormat? format)
    {
        using var folder = ModelFolder.Open(directory);
        using var decoder = folder.LoadDecoder(new ModelLoadOptions { Weights = format });
        using var _ = no_grad();
        var ids = tensor(new long[] { 1, 5, 9, 42, 7, 3 }).unsqueeze(0);
        return decoder.Forward(decoder.Embed(ids), arange(6).unsqueeze(0));
    }

    [Theory]
    [InlineData(WeightFormat.Int8)]
    [InlineData(WeightFormat.Int4)]
    public void A_quantized_folder_loads_directly_and_computes_what_quantizing_at_load_computes(WeightFormat format)
    {
        var output = Path.Combine(root, format.Name());
        var result = CheckpointQuantizer.Quantize(Fixtures.LlavaTinyA, output, format);
        Assert.Equal(7 * 4 + 1, result.PackedLayers); // seven projections in each of the 4 decoder layers, and the head (int8)
        Assert.True(result.BytesAfter < result.BytesBefore);
        // Tokenizer and processor files come along; the config says how the weights are stored.
        foreach (var file in new[] { "tokenizer.model", "tokenizer_config.json", "preprocessor_config.json" })
            Assert.True(File.Exists(Path.Combine(output, file)), file);
        using (var folder = ModelFolder.Open(output))
        {
            Assert.Equal(format, folder.StoredWeightFormat());
            Assert.Contains(folder.Weights.Names, n => n.EndsWith("q_proj." + PackedTensors.Values, StringComparison.Ordinal));
            Assert.DoesNotContain(folder.Weights.Names, n => n.EndsWith("q_proj.weight", StringComparison.Ordinal) && !n.Contains("vision_tower", StringComparison.Ordinal));
            Assert.Contains(folder.Weights.Names, n => n.EndsWith("q_proj.weight", StringComparison.Ordinal)); // the vision tower keeps its weights
        }
        using var scope = NewDisposeScope();
        Assert.Equal(Logits(Fixtures.LlavaTinyA, format).data<float>().ToArray(), Logits(output, null).data<float>().ToArray());
        // The whole model (vision tower included) loads from it.
        using var model = MultimodalModel.Load(output, [new LlavaModal.Encoders.Vision.Llava.LlavaVisionFactory()]);
        var packed = model.Decoder.modules().OfType<PackedLinear>().ToList();
        Assert.Equal(7 * 4, packed.Count(p => p.Format == format && p.GetName() != "lm_head"));
        Assert.Equal(WeightFormat.Int8, Assert.Single(packed, p => p.GetName() == "lm_head").Format);
    }

    [Fact]
    public void Refuses_a_non_empty_output_a_packed_source_and_a_different_format_at_load()
    {
        var output = Path.Combine(root, "out");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "notes.txt"), "mine");
        var error = Assert.Throws<ArgumentException>(() => CheckpointQuantizer.Quantize(Fixtures.LlavaTinyA, output, WeightFormat.Int8));
        Assert.Contains("not empty", error.Message);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(output, "notes.txt")));

        var packed = Path.Combine(root, "packed");
        CheckpointQuantizer.Quantize(Fixtures.LlavaTinyA, packed, WeightFormat.Int4);
        Assert.Throws<CheckpointException>(() => CheckpointQuantizer.Quantize(packed, Path.Combine(root, "again"), WeightFormat.Int8));
        Assert.False(Directory.Exists(Path.Combine(root, "again")));
        using var folder = ModelFolder.Open(packed);
        var mismatch = Assert.Throws<ArgumentException>(() => folder.LoadDecoder(new ModelLoadOptions { Weights = WeightFormat.Int8 }));
        Assert.Contains("stores int4", mismatch.Message);
        Assert.Throws<ArgumentException>(() => CheckpointQuantizer.Quantize(Fixtures.LlavaTinyA, Path.Combine(root, "bf16"), WeightFormat.BF16));
    }
}
