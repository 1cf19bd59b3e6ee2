using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Clip;

/// <summary>The stack of CLIP encoder layers.</summary>
internal sealed class ClipEncoder : nn.Module
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly ModuleList<ClipEncoderLayer> layers;
#pragma warning restore IDE1006

    public ClipEncoder(ClipVisionConfig c, ScalarType dtype, Device? device) : base(nameof(ClipEncoder))
    {
        layers = new ModuleList<ClipEncoderLayer>(Enumerable.Range(0, c.NumHiddenLayers).Select(_ => new ClipEncoderLayer(c, dtype, device)).ToArray());
        RegisterComponents();
    }

    /// <summary>Runs the first <paramref name="count"/> layers, adding each layer's output to <paramref name="hiddenStates"/>.</summary>
    /// <param name="x">[B, T, hidden] (already added to <paramref name="hiddenStates"/> by the caller).</param>
    /// <param name="count">Layers to run; later layers are skipped because nothing reads them.</param>
    /// <param name="hiddenStates">Receives the outputs, moved to the caller's dispose scope.</param>
    public void forward(Tensor x, int count, List<Tensor> hiddenStates)
    {
        var h = x;
        for (int i = 0; i < count; i++)
        {
            h = layers[i].forward(h);
            hiddenStates.Add(h);
        }
    }
}
