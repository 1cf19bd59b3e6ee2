using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Checkpoints;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.LlavaNextVideo;

/// <summary>
/// LLaVA-NeXT-Video's <c>vision_resampler</c> (transformers' <c>LlavaNextVideoPooler</c>): each frame's side x side map of
/// selected tower features, before the projector, pooled with kernel = stride = <c>spatial_pool_stride</c> and no padding:
/// <c>average</c> (AvgPool2d), <c>max</c> (MaxPool2d) or <c>conv</c> (a Conv2d from the tower's width to itself whose
/// weights are the checkpoint's <c>vision_resampler.pool.weight</c> / <c>.bias</c>). The map shrinks to
/// ⌊side / stride⌋ x ⌊side / stride⌋, read row-major.
/// </summary>
sealed class NextVideoPooler : nn.Module<Tensor, Tensor>
{
    /// <summary>The pooling modes of <c>spatial_pool_mode</c>.</summary>
    public static readonly string[] Modes = ["average", "max", "conv"];

    // Named as the checkpoint's vision_resampler.pool.*; only the conv mode has weights.
#pragma warning disable IDE1006 // checkpoint name
    readonly Conv2d? pool;
#pragma warning restore IDE1006

    /// <summary>Creates the pooler (the conv's weights are loaded separately).</summary>
    /// <exception cref="ArgumentException">An unknown mode or a stride under 1.</exception>
    public NextVideoPooler(string mode, int stride, int width, ScalarType dtype, Device device) : base("vision_resampler")
    {
        if (Array.IndexOf(Modes, mode) < 0) throw new ArgumentException($"'{mode}' is not a pooling mode; expected one of {string.Join(", ", Modes)}.", nameof(mode));
        ArgumentOutOfRangeException.ThrowIfLessThan(stride, 1);
        Mode = mode;
        Stride = stride;
        if (mode == "conv") pool = nn.Conv2d(width, width, stride, stride: stride, bias: true, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary><c>spatial_pool_mode</c>.</summary>
    public string Mode { get; }

    /// <summary><c>spatial_pool_stride</c>: the kernel and the stride.</summary>
    public int Stride { get; }

    /// <summary>Side of a pooled map of a <paramref name="side"/> x <paramref name="side"/> one (no padding, the last partial window dropped).</summary>
    public int PooledSide(int side) => side / Stride;

    /// <summary>Pools <paramref name="features"/> [frames, side², width] to [frames, pooled², width].</summary>
    public override Tensor forward(Tensor features)
    {
        long frames = features.shape[0], width = features.shape[2];
        long side = (long)Math.Round(Math.Sqrt(features.shape[1]));
        var maps = features.view(frames, side, side, width).permute(0, 3, 1, 2);
        var pooled = Mode switch
        {
            "average" => nn.functional.avg_pool2d(maps, Stride, Stride),
            "max" => nn.functional.max_pool2d(maps, Stride, Stride),
            _ => pool!.forward(maps),
        };
        return pooled.flatten(2).transpose(1, 2);
    }

    /// <summary>
    /// The pooler a config names (<c>spatial_pool_mode</c>, default <c>average</c>; <c>spatial_pool_stride</c>, default 2),
    /// over a tower whose frames give <paramref name="side"/> x <paramref name="side"/> maps <paramref name="width"/> wide.
    /// </summary>
    /// <exception cref="ConfigException">An unknown mode, a stride under 1 or over the map's side, or an output width other than the tower's.</exception>
    /// <exception cref="CheckpointException">The conv mode's tensors are missing or have the wrong shape.</exception>
    public static NextVideoPooler Load(ModalityLoadContext context, int side, int width)
    {
        var config = context.Config;
        var mode = config.String("spatial_pool_mode", "average");
        if (Array.IndexOf(Modes, mode) < 0)
            throw config.Error("spatial_pool_mode", $"is '{mode}'; expected one of {string.Join(", ", Modes)} (transformers' LlavaNextVideoPooler).");
        int stride = config.OptionalInt("spatial_pool_stride") ?? 2;
        if (stride < 1 || stride > side)
            throw config.Error("spatial_pool_stride", $"is {stride}; it must be from 1 to the side of a frame's feature map ({side}).");
        if (config.OptionalInt("spatial_pool_out_channels") is int channels && channels != width)
            throw config.Error("spatial_pool_out_channels", $"is {channels}, but the projector shared with images takes the vision tower's width {width}.");
        var pooler = new NextVideoPooler(mode, stride, width, context.DType, context.Device);
        try
        {
            if (mode == "conv")
            {
                var prefix = context.Weights.Find("vision_resampler.", "pool.weight")
                    ?? throw new CheckpointException(context.ModelDirectory, "no 'vision_resampler.pool.weight' tensor; spatial_pool_mode 'conv' pools video frames with it.");
                StateDictLoader.Load(pooler, context.Weights, prefix);
            }
            pooler.eval();
            return pooler;
        }
        catch
        {
            pooler.Dispose();
            throw;
        }
    }
}
