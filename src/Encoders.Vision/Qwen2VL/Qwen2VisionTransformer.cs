using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Checkpoints;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Qwen2VL;

/// <summary>
/// Qwen2-VL's vision tower (<c>visual.*</c>): flattened patches [patches, C·T·P²] → <c>patch_embed</c> (a Conv3d whose
/// kernel is the patch) → <c>blocks</c> with 2-D rotary positions, attention within each temporal group → <c>merger</c> →
/// [patches / m², hidden], the vectors that replace the media tokens. Patches come in the processor's order, each
/// <c>m</c> x <c>m</c> window's patches consecutive. Parameter names equal the checkpoint's below <c>visual.</c>.
/// </summary>
public sealed class Qwen2VisionTransformer : nn.Module
{
    /// <summary>Where Qwen2-VL checkpoints keep the tower.</summary>
    public const string Prefix = "visual.";

#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly PatchEmbed patch_embed;
    readonly ModuleList<Qwen2VLVisionBlock> blocks;
    readonly Qwen2VLPatchMerger merger;
#pragma warning restore IDE1006

    /// <summary>Creates the tower (randomly initialised, or uninitialised inside a skip-init scope).</summary>
    public Qwen2VisionTransformer(Qwen2VLVisionConfig config, ModelBuildContext build) : base(nameof(Qwen2VisionTransformer))
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(build);
        Config = config;
        DType = build.DType;
        Device = build.Device;
        patch_embed = new PatchEmbed(config, build);
        blocks = new ModuleList<Qwen2VLVisionBlock>([.. Enumerable.Range(0, config.Depth).Select(_ => new Qwen2VLVisionBlock(config, build))]);
        merger = new Qwen2VLPatchMerger(config, build);
        RegisterComponents();
    }

    /// <summary>The architecture.</summary>
    public Qwen2VLVisionConfig Config { get; }

    /// <summary>Weights dtype.</summary>
    public ScalarType DType { get; }

    /// <summary>Device.</summary>
    public Device Device { get; }

    /// <summary>Loads the tower strictly from the <c>visual.*</c> tensors.</summary>
    /// <exception cref="CheckpointMismatchException">Missing, unexpected or wrongly-shaped tensors, all named.</exception>
    public static Qwen2VisionTransformer Load(IWeightSource weights, Qwen2VLVisionConfig config, ModelBuildContext build)
    {
        ArgumentNullException.ThrowIfNull(weights);
        Qwen2VisionTransformer tower;
        using (WeightInit.SkipRandomInit()) tower = new Qwen2VisionTransformer(config, build);
        try
        {
            StateDictLoader.Load(tower, weights, p => Prefix + p, n => n.StartsWith(Prefix, StringComparison.Ordinal));
            tower.eval();
            return tower;
        }
        catch
        {
            tower.Dispose();
            throw;
        }
    }

    /// <summary>The patch embeddings [patches, embed_dim] (Conv3d output).</summary>
    public Tensor PatchEmbeddings(Tensor patches) => patch_embed.forward(patches);

    /// <summary>The output of every block in turn (the last one is the merger's input), for a grid of <paramref name="frames"/> x <paramref name="rows"/> x <paramref name="cols"/> patches.</summary>
    public IReadOnlyList<Tensor> BlockOutputs(Tensor patches, int frames, int rows, int cols)
    {
        ArgumentNullException.ThrowIfNull(patches);
        var expected = (long)frames * rows * cols;
        if (patches.dim() != 2 || patches.shape[0] != expected || patches.shape[1] != Config.PatchValues)
            throw new ArgumentException($"Qwen2-VL's tower expects patches [{expected}, {Config.PatchValues}] for a {frames}x{rows}x{cols} grid, got [{string.Join(", ", patches.shape)}].", nameof(patches));
        var angles = VisionRotaryEmbedding.Angles(frames, rows, cols, Config.SpatialMergeSize, Config.HeadDim);
        using var freqs = tensor(angles, [expected, Config.HeadDim / 2], ScalarType.Float32, Device);
        using var emb = cat([freqs, freqs], -1);
        using var cos = emb.cos();
        using var sin = emb.sin();
        var outputs = new List<Tensor>(blocks.Count);
        var h = patch_embed.forward(patches);
        foreach (var block in blocks)
        {
            var next = block.forward(h, cos, sin, frames);
            if (outputs.Count == 0) h.Dispose();
            outputs.Add(next);
            h = next;
        }
        return outputs;
    }

    /// <summary>Merged features [patches / m², hidden] of a grid of <paramref name="frames"/> x <paramref name="rows"/> x <paramref name="cols"/> patches.</summary>
    public Tensor forward(Tensor patches, int frames, int rows, int cols)
    {
        using var scope = NewDisposeScope();
        var outputs = BlockOutputs(patches, frames, rows, cols);
        return merger.forward(outputs[^1]).MoveToOuterDisposeScope();
    }

    /// <summary>The merger alone (for inspection).</summary>
    internal Tensor Merge(Tensor blockOutput) => merger.forward(blockOutput);

    /// <summary>The Conv3d over one patch (kernel = stride = patch, no bias): [patches, C·T·P²] → [patches, embed_dim].</summary>
    sealed class PatchEmbed : nn.Module<Tensor, Tensor>
    {
#pragma warning disable IDE1006 // field names are checkpoint tensor names
        readonly Conv3d proj;
#pragma warning restore IDE1006
        readonly Qwen2VLVisionConfig config;

        public PatchEmbed(Qwen2VLVisionConfig c, ModelBuildContext build) : base(nameof(PatchEmbed))
        {
            config = c;
            var kernel = (c.TemporalPatchSize, c.PatchSize, c.PatchSize);
            proj = nn.Conv3d(c.InChannels, c.EmbedDim, kernel, stride: kernel, bias: false, device: build.Device, dtype: build.DType);
            RegisterComponents();
        }

        public override Tensor forward(Tensor patches)
        {
            using var scope = NewDisposeScope();
            var x = patches.to(proj.weight!.dtype).view(-1, config.InChannels, config.TemporalPatchSize, config.PatchSize, config.PatchSize);
            return proj.forward(x).view(-1, config.EmbedDim).MoveToOuterDisposeScope();
        }
    }
}
