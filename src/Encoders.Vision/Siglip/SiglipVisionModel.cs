using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Checkpoints;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Siglip;

/// <summary>
/// The SigLIP vision tower as LLaVA uses it (LLaVA-Interleave, LLaVA-OneVision). Parameter names equal the checkpoint's
/// (<c>vision_model.embeddings.patch_embedding.weight</c>, <c>vision_model.encoder.layers.0.self_attn.q_proj.weight</c>,
/// <c>vision_model.post_layernorm.weight</c>) minus the LLaVA prefix, so loading is one prefix mapping. SigLIP has no class
/// token: <see cref="Features"/> returns one vector per patch under the <c>full</c> strategy, and, as transformers'
/// LLaVA does for any tower, drops the first vector under <c>default</c>.
/// </summary>
public sealed class SiglipVisionModel : VisionTower
{
    /// <summary>A tensor every SigLIP vision checkpoint has, relative to the tower's root.</summary>
    public const string ProbeTensor = "vision_model.embeddings.patch_embedding.weight";

#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly SiglipVisionTransformer vision_model;
#pragma warning restore IDE1006
    readonly int[] selectedStates;

    /// <summary>Creates a randomly initialised tower (uninitialised inside a skip-init scope; weights are normally loaded right after).</summary>
    /// <param name="config">The architecture.</param>
    /// <param name="selection">Which hidden states <see cref="Features"/> returns.</param>
    /// <param name="build">Dtype, device, linear factory and attention kernel.</param>
    /// <exception cref="ArgumentException">The selection names a hidden state the tower does not have.</exception>
    public SiglipVisionModel(SiglipVisionConfig config, FeatureSelection selection, ModelBuildContext build)
        : base(nameof(SiglipVisionModel), selection, build.DType, build.Device)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        selectedStates = Selection.Resolve(config.NumHiddenLayers);
        vision_model = new SiglipVisionTransformer(config, build);
        RegisterComponents();
    }

    /// <summary>The architecture.</summary>
    public SiglipVisionConfig Config { get; }

    /// <inheritdoc />
    public override string ModelType => SiglipVisionConfig.ModelTypeName;

    /// <inheritdoc />
    public override int ImageSize => Config.ImageSize;

    /// <inheritdoc />
    public override int NumChannels => Config.NumChannels;

    /// <summary>Width of each selected feature vector: hidden size times the number of selected layers.</summary>
    public override int OutputWidth => Config.HiddenSize * selectedStates.Length;

    /// <summary>Feature vectors per image: every patch under <c>full</c>, one fewer under <c>default</c>.</summary>
    public override int TokenCount => Config.NumPatches - (Selection.KeepsClsToken ? 0 : 1);

    /// <inheritdoc />
    public override Dictionary<string, object?> ToJsonObject() => Config.ToJsonObject();

    /// <summary>
    /// Loads the tower from <paramref name="checkpoint"/>, reading parameter <c>p</c> from tensor <c>prefix + p</c>.
    /// Strict: every tensor under <c>prefix + "vision_model."</c> must be used, except the attention-pooling head
    /// (<c>vision_model.head.*</c>), which LLaVA never runs, and a stored <c>embeddings.position_ids</c> buffer.
    /// </summary>
    /// <exception cref="CheckpointMismatchException">Missing, unexpected or wrongly-shaped tensors, all named.</exception>
    public static SiglipVisionModel Load(IWeightSource checkpoint, SiglipVisionConfig config, string prefix, ModelBuildContext build, FeatureSelection selection)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        SiglipVisionModel model;
        using (WeightInit.SkipRandomInit()) model = new SiglipVisionModel(config, selection, build);
        try
        {
            var root = prefix + "vision_model.";
            var head = root + "head.";
            var legacyBuffer = root + "embeddings.position_ids";
            StateDictLoader.Load(model, checkpoint, p => prefix + p,
                n => n.StartsWith(root, StringComparison.Ordinal) && n != legacyBuffer && !n.StartsWith(head, StringComparison.Ordinal));
        }
        catch
        {
            model.Dispose();
            throw;
        }
        model.eval();
        return model;
    }

    /// <summary>
    /// Hidden states 0..<paramref name="layers"/> (all L + 1 by default) without gradients: 0 = patch + position
    /// embeddings, i = output of encoder layer i; <c>post_layernorm</c> is not applied (see <see cref="LastHiddenState"/>).
    /// </summary>
    /// <param name="pixelValues">[B, C, image_size, image_size].</param>
    /// <param name="layers">Encoder layers to run (default all).</param>
    /// <returns>Tensors [B, patches, hidden], owned by the caller.</returns>
    public IReadOnlyList<Tensor> HiddenStates(Tensor pixelValues, int? layers = null)
    {
        int count = layers ?? Config.NumHiddenLayers;
        if (count < 0 || count > Config.NumHiddenLayers)
            throw new ArgumentOutOfRangeException(nameof(layers), count, $"must be within 0..{Config.NumHiddenLayers}.");
        using var _ = no_grad();
        return vision_model.forward(pixelValues, count).Select(s => s!).ToList();
    }

    /// <summary>transformers' <c>last_hidden_state</c>: the last layer's output through <c>post_layernorm</c> [B, patches, hidden], without gradients.</summary>
    public Tensor LastHiddenState(Tensor pixelValues)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var last = vision_model.forward(pixelValues, Config.NumHiddenLayers, i => i == Config.NumHiddenLayers)[^1]!;
        return vision_model.PostLayerNorm(last).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The features LLaVA projects: the selected hidden states (before <c>post_layernorm</c>, as transformers' LLaVA takes
    /// them from <c>hidden_states</c>), the first vector dropped under the <c>default</c> strategy, concatenated along the
    /// feature dimension when several layers are selected. Layers past the deepest selected one are not run.
    /// </summary>
    public override Tensor Features(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        var states = vision_model.forward(pixelValues, selectedStates.Max(), i => selectedStates.Contains(i));
        var picked = selectedStates.Select(i => states[i]!).Select(s => Selection.KeepsClsToken ? s : s.narrow(1, 1, s.shape[1] - 1)).ToList();
        var features = picked.Count == 1 ? picked[0].alias() : cat(picked, -1);
        return features.MoveToOuterDisposeScope();
    }
}
