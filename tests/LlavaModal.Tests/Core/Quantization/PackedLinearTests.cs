using LlavaModal.Abstractions.Layers;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Kernels;
using LlavaModal.Core.Quantization;
using LlavaModal.Tests.Core.Kernels;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Core.Quantization;

public class PackedLinearTests
{
    /// <summary>A folder holding one layer's weight [out, in] and bias.</summary>
    static string LayerFolder(Tensor weight, Tensor bias)
    {
        var dir = Directory.CreateTempSubdirectory("packed-linear").FullName;
        SafeTensorsWriter.Write(Path.Combine(dir, SafeTensorsCheckpoint.SingleFileName), [new("weight", weight), new("bias", bias)]);
        return dir;
    }

    [Theory]
    [InlineData(WeightFormat.F32)]
    [InlineData(WeightFormat.BF16)]
    [InlineData(WeightFormat.F16)]
    [InlineData(WeightFormat.Int8)]
    [InlineData(WeightFormat.Int4)]
    public void A_packed_layer_computes_x_wt_plus_b_with_its_stored_weights_for_decode_and_prefill(WeightFormat format)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var generator = new Generator(7);
        var weight = randn([48, 96], generator: generator);
        var bias = randn([48], generator: generator);
        var dir = LayerFolder(weight, bias);
        try
        {
            using var checkpoint = SafeTensorsCheckpoint.Open(dir);
            using var layer = new PackedLinearFactory(format).Create(new LinearSpec("up_proj", 96, 48, Bias: true), ScalarType.Float32, CPU);
            StateDictLoader.Load(layer, checkpoint);
            var stored = KernelReference.Weights(((PackedLinear)layer).Weight);
            // 2 and 6 rows go through the row kernels, 40 through the tiled product (f32 panels, activations not rounded)
            // or, for int4 on AVX-512 or AVX2 and int8 on AVX-512, an integer product.
            foreach (long t in new long[] { 1, 3, 20 })
            {
                var x = randn([2, t, 96], generator: generator);
                // The row kernels and the integer product multiply int8/int4 weights with the activations rounded to int8 per block.
                var packed = ((PackedLinear)layer).Weight;
                bool integers = 2 * t <= PackedLinear.RowKernelLimit(format) || Int4Gemm.Serves(packed, KernelIsas.Best) || Int8Gemm.Serves(packed, KernelIsas.Best);
                bool rounded = format.IsQuantized() && integers;
                var expected = (rounded ? KernelReference.RoundedActivations(x) : x.to(ScalarType.Float64)).matmul(stored.to(ScalarType.Float64).t()) + bias.to(ScalarType.Float64);
                Parity.AssertClose(layer.forward(x), expected, 2e-6, $"{format.Name()} with {2 * t} rows");
                // Activations in bf16 keep their dtype; the product is still accumulated in f32.
                var half = layer.forward(x.to(ScalarType.BFloat16));
                Assert.Equal(ScalarType.BFloat16, half.dtype);
                Parity.AssertClose(half, expected, 1e-2, $"{format.Name()} bf16 activations");
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData(WeightFormat.F32)]
    [InlineData(WeightFormat.Int4)]
    public void Packing_a_layer_leaves_no_f32_copy_alive_in_the_loading_scope(WeightFormat format)
    {
        var dir = LayerFolder(randn(64, 128), zeros(64));
        try
        {
            using var checkpoint = SafeTensorsCheckpoint.Open(dir);
            using var layer = new PackedLinearFactory(format).Create(new LinearSpec("down_proj", 128, 64, Bias: false), ScalarType.Float32, CPU);
            // A model loads all its layers inside one scope: anything a layer's read leaves there lives until the whole load ends.
            using var scope = NewDisposeScope();
            ((PackedLinear)layer).Read(checkpoint, name => name);
            Assert.Equal(0, scope.DisposablesCount);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void A_wrong_shaped_weight_is_reported_by_name()
    {
        using var scope = NewDisposeScope();
        var dir = LayerFolder(zeros(48, 64), zeros(48));
        try
        {
            using var checkpoint = SafeTensorsCheckpoint.Open(dir);
            using var layer = new PackedLinearFactory(WeightFormat.Int8).Create(new LinearSpec("q_proj", 96, 48, Bias: true), ScalarType.Float32, CPU);
            var error = Assert.Throws<CheckpointMismatchException>(() => StateDictLoader.Load(layer, checkpoint));
            Assert.Contains("weight (checkpoint [48, 64], model [48, 96])", error.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void The_factory_packs_decoder_projections_keeps_the_head_at_8_bits_or_more_and_leaves_other_layers_to_torch()
    {
        var factory = new PackedLinearFactory(WeightFormat.Int4);
        Assert.Equal(WeightFormat.Int4, factory.FormatOf(new LinearSpec("down_proj", 128, 64, false), ScalarType.Float32));
        Assert.Equal(WeightFormat.Int8, factory.FormatOf(new LinearSpec("lm_head", 64, 500, false), ScalarType.Float32));
        Assert.Equal(WeightFormat.Int8, factory.FormatOf(new LinearSpec("lm_head", 64, 500, false), ScalarType.BFloat16));
        Assert.Equal(WeightFormat.BF16, new PackedLinearFactory(WeightFormat.BF16).FormatOf(new LinearSpec("lm_head", 64, 500, false), ScalarType.Float32));
        // Not whole blocks of 32: stays a torch layer.
        Assert.Null(factory.FormatOf(new LinearSpec("down_proj", 176, 64, false), ScalarType.Float32));
        Assert.Null(factory.FormatOf(new LinearSpec("fc1", 64, 256, true), ScalarType.Float32));
        Assert.IsType<TorchSharp.Modules.Linear>(factory.Create(new LinearSpec("fc1", 64, 256, true), ScalarType.Float32, CPU));
    }
}
