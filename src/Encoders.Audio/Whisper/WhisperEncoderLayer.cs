using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Core.Modules;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Audio.Whisper;

/// <summary>Pre-LN encoder layer: <c>h = x + attn(ln(x)); out = h + fc2(act(fc1(ln(h))))</c>.</summary>
sealed class WhisperEncoderLayer : nn.Module
{
    // LayerNorm epsilon is not configurable in Whisper: torch's default.
    internal const double LayerNormEps = 1e-5;

#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly WhisperAttention self_attn;
    readonly LayerNorm self_attn_layer_norm, final_layer_norm;
    readonly nn.Module<Tensor, Tensor> fc1, fc2;
#pragma warning restore IDE1006
    readonly Func<Tensor, Tensor> activation;

    public WhisperEncoderLayer(WhisperEncoderConfig c, ModelBuildContext build) : base(nameof(WhisperEncoderLayer))
    {
        self_attn = new WhisperAttention(c, build);
        self_attn_layer_norm = nn.LayerNorm(c.DModel, LayerNormEps, device: build.Device, dtype: build.DType);
        fc1 = build.Linear.Create(new LinearSpec("fc1", c.DModel, c.EncoderFfnDim, Bias: true), build.DType, build.Device);
        fc2 = build.Linear.Create(new LinearSpec("fc2", c.EncoderFfnDim, c.DModel, Bias: true), build.DType, build.Device);
        final_layer_norm = nn.LayerNorm(c.DModel, LayerNormEps, device: build.Device, dtype: build.DType);
        activation = Activations.Get(c.ActivationFunction);
        RegisterComponents();
    }

    public Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = x.Plus(self_attn.forward(self_attn_layer_norm.forward(x)));
        var output = h.Plus(fc2.forward(activation(fc1.forward(final_layer_norm.forward(h)))));
        // The reference clamps fp16 overflow back into range rather than propagating inf/NaN.
        if (output.dtype == ScalarType.Float16 && (output.isinf().any().item<bool>() || output.isnan().any().item<bool>()))
        {
            const double clamp = 65504.0 - 1000.0;
            output = output.ClampScalar(-clamp, clamp);
        }
        return output.MoveToOuterDisposeScope();
    }
}
