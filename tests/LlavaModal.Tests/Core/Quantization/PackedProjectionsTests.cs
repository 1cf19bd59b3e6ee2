using LlavaModal.Abstractions.Layers;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Kernels;
using LlavaModal.Core.Quantization;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Core.Quantization;

public class PackedProjectionsTests
{
    /// <summary>A packed layer named <paramref name="name"/> loaded with random weights (and a bias when asked).</summary>
    static nn.Module<Tensor, Tensor> Layer(WeightFormat format, string name, int inputs, int outputs, bool bias, Generator generator)
    {
        var dir = Directory.CreateTempSubdirectory("packed-projections").FullName;
        try
        {
            var tensors = new List<KeyValuePair<string, Tensor>> { new("weight", randn([outputs, inputs], generator: generator)) };
            if (bias) tensors.Add(new("bias", randn([outputs], generator: generator)));
            SafeTensorsWriter.Write(Path.Combine(dir, SafeTensorsCheckpoint.SingleFileName), tensors);
            using var checkpoint = SafeTensorsCheckpoint.Open(dir);
            var layer = new PackedLinearFactory(format).Create(new LinearSpec(name, inputs, outputs, bias), ScalarType.Float32, CPU);
            StateDictLoader.Load(layer, checkpoint);
            return layer;
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData(WeightFormat.F32)]
    [InlineData(WeightFormat.BF16)]
    [InlineData(WeightFormat.Int4)]
    public void Fused_q_k_v_equal_the_layers_one_by_one_and_longer_inputs_are_left_to_them(WeightFormat format)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var generator = new Generator(21);
        // Qwen2-like: biased q/k/v, grouped key/value heads.
        var layers = new[] { Layer(format, "q_proj", 128, 128, true, generator), Layer(format, "k_proj", 128, 32, true, generator), Layer(format, "v_proj", 128, 32, true, generator) };
        foreach (var shape in new long[][] { [1, 1, 128], [3, 1, 128] })
        {
            var x = randn(shape, generator: generator);
            var fused = PackedProjections.Forward(layers, x) ?? throw new InvalidOperationException("the fused path did not apply");
            for (int m = 0; m < layers.Length; m++)
                Parity.AssertClose(fused[m], layers[m].forward(x), 1e-7, $"{format.Name()} layer {m} [{string.Join(", ", shape)}]");
            // bf16 activations come back in bf16, as from the layers.
            Assert.Equal(ScalarType.BFloat16, PackedProjections.Forward(layers, x.to(ScalarType.BFloat16))![0].dtype);
        }
        // Past the row kernels' limit (prefill): the tiled product, layer by layer.
        Assert.Null(PackedProjections.Forward(layers, randn([1, PackedLinear.RowKernelLimit(format) + 1, 128], generator: generator)));
        Assert.Null(PackedProjections.Forward([layers[0], nn.Linear(128, 32)], randn([1, 1, 128])));  // a layer that is not packed
    }

    [Theory]
    [InlineData(WeightFormat.F32)]
    [InlineData(WeightFormat.Int8)]
    public void Fused_swiglu_equals_down_of_silu_gate_times_up(WeightFormat format)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var generator = new Generator(4);
        var gate = Layer(format, "gate_proj", 64, 160, false, generator);
        var up = Layer(format, "up_proj", 64, 160, false, generator);
        var down = Layer(format, "down_proj", 160, 64, false, generator);
        // Decode steps (row kernels), a prompt past the row kernels, and one past the 256-token slice with a ragged last slice (tiled product).
        foreach (var shape in new long[][] { [1, 1, 64], [2, 1, 64], [1, 40, 64], [2, 150, 64] })
        {
            var x = randn(shape, generator: generator);
            var expected = down.forward(nn.functional.silu(gate.forward(x)) * up.forward(x));
            var fused = PackedProjections.SwiGlu(gate, up, down, x) ?? throw new InvalidOperationException("the fused path did not apply");
            Parity.AssertClose(fused, expected, 1e-6, $"{format.Name()} [{string.Join(", ", shape)}]");
        }
        var biased = Layer(format, "gate_proj", 64, 160, true, generator);
        Assert.Null(PackedProjections.SwiGlu(biased, up, down, randn([1, 1, 64])));
    }
}
