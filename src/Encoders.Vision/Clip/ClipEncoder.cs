using LlavaModal.Abstractions.Layers;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Clip;

/// <summary>The stack of CLIP encoder layers.</summary>
sealed class ClipEncoder : nn.Module
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly ModuleList<ClipEncoderLayer> layers;
#pragma warning restore IDE1006

    public ClipEncoder(ClipVisionConfig c, ModelBuildContext build) : base(nameof(ClipEncoder))
    {
        layers = new ModuleList<ClipEncoderLayer>(Enumerable.Range(0, c.NumHiddenLayers).Select(_ => new ClipEncoderLayer(c, build)).ToArray());
        RegisterComponents();
    }

    /// <summary>Runs the first <paramref name="count"/> layers, reporting its input (index 0) and each layer's output (index i) to <paramref name="onState"/>.</summary>
    /// <param name="x">[B, T, hidden]; freed like any other state when not kept.</param>
    /// <param name="count">Layers to run; later layers are skipped because nothing reads them.</param>
    /// <param name="onState">Receives (hidden-state index, output); returns true to keep the tensor, false to let it be freed once the next layer has consumed it.</param>
    public void forward(Tensor x, int count, Func<int, Tensor, bool> onState)
    {
        var h = x;
        for (int i = 0; i < count; i++)
        {
            var next = layers[i].forward(h);
            if (!onState(i, h)) h.Dispose();
            h = next;
        }
        if (!onState(count, h)) h.Dispose();
    }
}
