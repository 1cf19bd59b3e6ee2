using LlavaModal.Core.Kernels;
using LlavaModal.Core.Quantization;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Loading;
using LlavaModal.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Multimodal;

public class WeightFormatLoadingTests
{
    static IEnumerable<nn.Module> Modules(object part) => part is nn.Module m ? m.modules().Prepend(m) : [];

    [Fact]
    public void A_weight_format_packs_the_decoder_and_leaves_the_vision_tower_and_projector_to_torch()
    {
        var options = new ModelLoadOptions { Weights = WeightFormat.Int8 };
        using var folder = ModelFolder.Open(Fixtures.LlavaTinyA);
        var (family, config) = folder.ReadDecoderConfig(options.Catalog);
        var build = options.BuildContext(folder.ComputeDType(options.DType, config), folder.StoredWeightFormat());
        using var decoder = folder.LoadDecoder(family, config, build);
        var packed = Modules(decoder).OfType<PackedLinear>().ToList();
        // Seven projections a layer, and the head (kept at f32).
        Assert.Equal(7 * config.NumHiddenLayers + 1, packed.Count);
        Assert.Equal(7 * config.NumHiddenLayers, packed.Count(p => p.Format == WeightFormat.Int8));
        var bindings = folder.LoadModalities([new LlavaVisionFactory()], config.HiddenSize, build, options.Catalog, NullLogger.Instance);
        try
        {
            Assert.NotEmpty(bindings);
            foreach (var binding in bindings)
                Assert.Empty(Modules(binding.Encoder).Concat(Modules(binding.Projector)).OfType<PackedLinear>());
        }
        finally
        {
            foreach (var b in bindings) b.Dispose();
        }
    }

    [Fact]
    public void A_weight_format_and_another_linear_factory_are_refused_together()
    {
        var options = new ModelLoadOptions { Weights = WeightFormat.Int4, Linear = "lora" };
        var error = Assert.Throws<ArgumentException>(() => options.BuildContext(ScalarType.Float32));
        Assert.Contains("choose one", error.Message);
    }
}
