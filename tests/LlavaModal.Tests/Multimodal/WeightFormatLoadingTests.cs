using LlavaModal.Core.Kernels;
using LlavaModal.Core.Quantization;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Loading;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Multimodal;

public class WeightFormatLoadingTests
{
    static IEnumerable<nn.Module> Modules(object part) => part is nn.Module m ? m.modules().Prepend(m) : [];

    [Fact]
    public void A_weight_format_packs_the_decoder_and_keeps_the_vision_tower_and_projector_at_the_models_precision()
    {
        var options = new ModelLoadOptions { Weights = WeightFormat.Int8 };
        using var folder = ModelFolder.Open(Fixtures.LlavaTinyA);
        var (family, config) = folder.ReadDecoderConfig(options.Catalog);
        var build = options.BuildContext(folder.ComputeDType(options.DType, config), folder.StoredWeightFormat());
        using var decoder = folder.LoadDecoder(family, config, build);
        var packed = Modules(decoder).OfType<PackedLinear>().ToList();
        // Seven projections a layer, and the head (int8 under both quantized formats).
        Assert.Equal(7 * config.NumHiddenLayers + 1, packed.Count);
        Assert.Equal(7 * config.NumHiddenLayers + 1, packed.Count(p => p.Format == WeightFormat.Int8));
        var bindings = folder.LoadModalities([new LlavaVisionFactory()], config.HiddenSize, build, options.Catalog, NullLogger.Instance);
        try
        {
            Assert.NotEmpty(bindings);
            foreach (var binding in bindings)
            {
                // Every linear layer of the tower and projector is packed in f32 (the model's dtype): no torch Linear left, nothing quantized.
                var layers = Modules(binding.Encoder).Concat(Modules(binding.Projector)).ToList();
                Assert.Empty(layers.OfType<TorchSharp.Modules.Linear>());
                var encoderLayers = layers.OfType<PackedLinear>().ToList();
                Assert.NotEmpty(encoderLayers);
                Assert.All(encoderLayers, p => Assert.Equal(WeightFormat.F32, p.Format));
            }
        }
        finally
        {
            foreach (var b in bindings) b.Dispose();
        }
    }

    [Theory]
    [InlineData(WeightFormat.F32, 1e-5)]
    [InlineData(WeightFormat.BF16, 3e-2)]
    public void Image_prompts_on_packed_encoders_give_the_torch_models_logits(WeightFormat format, double maxError)
    {
        // The image's 576 patches go through the tower and projector on the tiled product; with f32 weights the logits
        // differ from libtorch's only by summation order.
        using var scope = NewDisposeScope();
        using var reference = MultimodalModel.Load(Fixtures.LlavaTinyA, [new LlavaVisionFactory()]);
        using var packed = MultimodalModel.Load(Fixtures.LlavaTinyA, [new LlavaVisionFactory()], new ModelLoadOptions { Weights = format });
        var prompt = new MultimodalPrompt("USER: <image>\nWhat is shown? ASSISTANT:", [LlavaTinyFixture.ImageFile("img0")]);
        var (expected, _, _) = reference.PromptLogits(prompt);
        var (actual, _, _) = packed.PromptLogits(prompt);
        Parity.AssertClose(actual, expected, maxError, $"{format.Name()} image prompt");
    }

    [Theory]
    [InlineData(WeightFormat.F32, 1e-6)]
    [InlineData(WeightFormat.Int8, 5e-2)]
    [InlineData(WeightFormat.Int4, 0.8)]
    public void A_head_tied_to_the_embeddings_is_packed_from_the_loaded_table(WeightFormat format, double maxError)
    {
        // llava-interleave-tiny's Qwen2 ties its head to the embeddings: without a packed copy the head would stay
        // libtorch's f32 product over the whole vocabulary, the largest matrix of a small model.
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var folder = ModelFolder.Open(Fixtures.LlavaInterleaveTiny);
        using var reference = folder.LoadDecoder(new ModelLoadOptions());
        using var packed = folder.LoadDecoder(new ModelLoadOptions { Weights = format });
        var head = Assert.Single(Modules(packed).OfType<PackedLinear>(), p => p.GetName() == "lm_head");
        Assert.Equal(format.IsQuantized() ? WeightFormat.Int8 : format, head.Format);
        var ids = tensor(new long[] { 1, 5, 9, 42, 7, 3 }).unsqueeze(0);
        var positions = arange(6).unsqueeze(0);
        double error = Parity.RelativeError(packed.Forward(packed.Embed(ids), positions), reference.Forward(reference.Embed(ids), positions));
        Assert.True(error <= maxError, $"{format.Name()}: logit relative error {error:E2} > {maxError:E1}");
        // Decoding one token goes through the kernels (the prompt above went through the dequantized product).
        using var rows = packed.CreateCache(1, 8);
        using var cache = rows.Prefill(0);
        var last = packed.Forward(packed.Embed(ids), positions, cache: cache, lastOnly: true);
        var whole = packed.Forward(packed.Embed(ids), positions);
        Assert.True(Parity.RelativeError(last[0, -1], whole[0, -1]) < 1e-5);
    }

    [Theory]
    [InlineData(WeightFormat.Int8)]
    [InlineData(WeightFormat.Int4)]
    public void A_packed_model_counts_the_parameters_of_its_packed_layers(WeightFormat format)
    {
        // llava-interleave-tiny's Qwen2 ties its head to the embeddings: the head's packed copy is not counted twice.
        foreach (var dir in new[] { Fixtures.LlamaTiny, Fixtures.LlavaInterleaveTiny })
        {
            using var scope = NewDisposeScope();
            using var folder = ModelFolder.Open(dir);
            using var reference = folder.LoadDecoder(new ModelLoadOptions());
            using var packed = folder.LoadDecoder(new ModelLoadOptions { Weights = format });
            Assert.NotEmpty(Modules(packed).OfType<PackedLinear>());
            Assert.True(packed.parameters().Sum(p => p.numel()) < reference.ParameterCount, "the packed layers hold no TorchSharp parameters");
            Assert.Equal(reference.ParameterCount, packed.ParameterCount);
        }
    }

    [Theory]
    [InlineData(WeightFormat.F32)]
    [InlineData(WeightFormat.BF16)]
    [InlineData(WeightFormat.Int8)]
    [InlineData(WeightFormat.Int4)]
    public void Weight_formats_leave_the_embedding_table_in_the_file_and_embed_the_checkpoints_rows(WeightFormat format)
    {
        using var scope = NewDisposeScope();
        using var folder = ModelFolder.Open(Fixtures.Qwen2Tiny);
        using var reference = folder.LoadDecoder(new ModelLoadOptions());
        using var packed = folder.LoadDecoder(new ModelLoadOptions { Weights = format });
        Assert.DoesNotContain(packed.named_parameters(), p => p.name.EndsWith("embed_tokens.weight", StringComparison.Ordinal));
        Assert.True(Modules(packed).OfType<FileEmbedding>().Single().ReadsFromFile);
        // Repeated and adjacent ids (read as one run), in a [2, 3] batch: the checkpoint's rows in the compute dtype.
        var ids = tensor(new long[] { 1, 5, 6, 7, 42, 5 }).reshape(2, 3);
        var embedded = packed.Embed(ids);
        Assert.Equal(reference.Embed(ids).shape, embedded.shape);
        Assert.Equal(packed.DType, embedded.dtype);
        Assert.Equal(reference.Embed(ids).to(packed.DType).to(ScalarType.Float32).data<float>().ToArray(), embedded.to(ScalarType.Float32).data<float>().ToArray());
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => packed.Embed(tensor(new long[] { 3, reference.Config.VocabSize }).unsqueeze(0)));
        Assert.Contains($"token id {reference.Config.VocabSize} is outside the embedding table's {reference.Config.VocabSize} rows", error.Message);
    }

    [Theory]
    [InlineData(WeightFormat.Int8, ScalarType.BFloat16)]
    [InlineData(WeightFormat.F32, ScalarType.Float32)]
    public void A_table_tied_to_the_head_stays_held_in_memory_bf16_under_the_quantized_formats(WeightFormat format, ScalarType held)
    {
        using var scope = NewDisposeScope();
        using var folder = ModelFolder.Open(Fixtures.LlavaInterleaveTiny);
        using var reference = folder.LoadDecoder(new ModelLoadOptions { DType = ScalarType.Float32 });
        using var packed = folder.LoadDecoder(new ModelLoadOptions { Weights = format, DType = ScalarType.Float32 });
        Assert.Empty(Modules(packed).OfType<FileEmbedding>());
        var table = packed.named_parameters().Single(p => p.name.EndsWith("embed_tokens.weight", StringComparison.Ordinal)).parameter;
        Assert.Equal(held, table.dtype);
        var ids = tensor(new long[] { 1, 5, 9 }).unsqueeze(0);
        var expected = reference.Embed(ids).to(held).to(ScalarType.Float32);
        Assert.Equal(expected.data<float>().ToArray(), packed.Embed(ids).data<float>().ToArray());
    }

    [Fact]
    public void A_weight_format_and_another_linear_factory_are_refused_together()
    {
        var options = new ModelLoadOptions { Weights = WeightFormat.Int4, Linear = "lora" };
        var error = Assert.Throws<ArgumentException>(() => options.BuildContext(ScalarType.Float32));
        Assert.Contains("choose one", error.Message);
    }
}
