using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Attention;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Modules;
using LlavaModal.Encoders.Vision.Llava;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Clip;

/// <summary>
/// The CLIP vision tower as LLaVA uses it. Parameter names equal the checkpoint's (<c>vision_model.embeddings.class_embedding</c>,
/// <c>vision_model.encoder.layers.0.self_attn.q_proj.weight</c>, ...) minus the LLaVA prefix (<c>vision_tower.</c> in
/// older llava-hf checkpoints, <c>model.vision_tower.</c> in newer ones), so loading is one prefix mapping.
/// <see cref="Features"/> returns the hidden states LLaVA projects, running only the layers it needs.
/// </summary>
public sealed class ClipVisionModel : VisionTower
{
    /// <summary>A tensor every CLIP vision checkpoint has, relative to the tower's root.</summary>
    public const string ProbeTensor = "vision_model.embeddings.class_embedding";

#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly ClipVisionTransformer vision_model;
#pragma warning restore IDE1006
    readonly int[] selectedStates;

    /// <summary>Creates a randomly initialised tower (uninitialised inside a skip-init scope; weights are normally loaded right after).</summary>
    /// <param name="config">The architecture.</param>
    /// <param name="selection">Which hidden states <see cref="Features"/> returns (default: LLaVA-1.5's, layer -2 without CLS).</param>
    /// <param name="build">Dtype, device, linear factory and attention kernel.</param>
    /// <exception cref="ArgumentException">The selection names a hidden state the tower does not have.</exception>
    public ClipVisionModel(ClipVisionConfig config, FeatureSelection? selection, ModelBuildContext build)
        : base(nameof(ClipVisionModel), selection ?? FeatureSelection.Default, build.DType, build.Device)
    {
        Config = config;
        selectedStates = Selection.Resolve(config.NumHiddenLayers);
        vision_model = new ClipVisionTransformer(config, build);
        RegisterComponents();
    }

    /// <summary>Creates a randomly initialised tower with TorchSharp layers and eager attention.</summary>
    public ClipVisionModel(ClipVisionConfig config, FeatureSelection? selection = null, ScalarType dtype = ScalarType.Float32, Device? device = null)
        : this(config, selection, new ModelBuildContext(dtype, device ?? CPU, TorchLinearFactory.Instance, new EagerAttention())) { }

    /// <summary>The architecture.</summary>
    public ClipVisionConfig Config { get; }

    /// <inheritdoc />
    public override string ModelType => ClipVisionConfig.ModelTypeName;

    /// <inheritdoc />
    public override int ImageSize => Config.ImageSize;

    /// <inheritdoc />
    public override int NumChannels => Config.NumChannels;

    /// <summary>Width of each selected feature vector: hidden size times the number of selected layers.</summary>
    public override int OutputWidth => Config.HiddenSize * selectedStates.Length;

    /// <summary>Feature vectors per image: the patches, plus the CLS token under the <c>full</c> strategy.</summary>
    public override int TokenCount => Config.NumPatches + (Selection.KeepsClsToken ? 1 : 0);

    /// <inheritdoc />
    public override Dictionary<string, object?> ToJsonObject() => Config.ToJsonObject();

    /// <summary>
    /// Loads the tower from <paramref name="checkpoint"/>, reading parameter <c>p</c> from tensor <c>prefix + p</c>.
    /// Strict: every tensor under <c>prefix + "vision_model."</c> must be used (the legacy <c>embeddings.position_ids</c>
    /// buffer excepted); tensors elsewhere (decoder, projector, CLIP text tower) are ignored.
    /// </summary>
    /// <exception cref="CheckpointMismatchException">Missing, unexpected or wrongly-shaped tensors, all named.</exception>
    public static ClipVisionModel Load(IWeightSource checkpoint, ClipVisionConfig config, string prefix, ModelBuildContext build, FeatureSelection? selection = null)
    {
        ClipVisionModel model;
        using (WeightInit.SkipRandomInit()) model = new ClipVisionModel(config, selection, build);
        try
        {
            var root = prefix + "vision_model.";
            // Checkpoints written before transformers 4.31 saved the position-id buffer; the reference skips it too.
            var legacyBuffer = root + "embeddings.position_ids";
            StateDictLoader.Load(model, checkpoint, p => prefix + p, n => n.StartsWith(root, StringComparison.Ordinal) && n != legacyBuffer);
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
    /// Loads a Hugging Face CLIP folder: a <c>CLIPVisionModel</c> or a full <c>CLIPModel</c> (its text tower is
    /// ignored), or the tower of a LLaVA folder (with its configured feature selection).
    /// </summary>
    /// <param name="directory">Folder with <c>config.json</c> and safetensors weights.</param>
    /// <param name="selection">Feature selection (default: the LLaVA config's, else layer -2 without CLS).</param>
    /// <param name="build">Dtype, device and layer factories (default: float32 on the CPU, eager attention).</param>
    public static ClipVisionModel FromPretrained(string directory, FeatureSelection? selection = null, ModelBuildContext? build = null)
    {
        if (!System.IO.Directory.Exists(directory)) throw new CheckpointException(directory, "model folder not found.");
        build ??= new ModelBuildContext(ScalarType.Float32, CPU, TorchLinearFactory.Instance, new EagerAttention());
        var configPath = Path.Combine(directory, "config.json");
        var config = ClipVisionConfig.Load(configPath);
        var json = JsonConfig.Load(configPath);
        if (json.Has("vision_config")) selection ??= LlavaFeatureSelection.FromJson(json, config.NumHiddenLayers);
        using var checkpoint = SafeTensorsCheckpoint.Open(directory);
        var prefix = checkpoint.Find(LlavaVisionTower.Prefix, ProbeTensor) ?? (checkpoint.Contains(ProbeTensor) ? ""
            : throw new CheckpointException(directory, $"not a CLIP vision checkpoint: tensor '{ProbeTensor}' not found."));
        return Load(checkpoint, config, prefix, build, selection);
    }

    /// <summary>
    /// Hidden states 0..<paramref name="layers"/> (all L + 1 by default): 0 = patch + CLS + position embeddings after
    /// <c>pre_layrnorm</c>, i = output of encoder layer i. <c>post_layernorm</c> is never applied.
    /// </summary>
    /// <param name="pixelValues">[B, C, image_size, image_size].</param>
    /// <param name="layers">Encoder layers to run (default all).</param>
    /// <returns>Tensors [B, 1 + patches, hidden], owned by the caller.</returns>
    public IReadOnlyList<Tensor> HiddenStates(Tensor pixelValues, int? layers = null)
    {
        int count = layers ?? Config.NumHiddenLayers;
        if (count < 0 || count > Config.NumHiddenLayers)
            throw new ArgumentOutOfRangeException(nameof(layers), count, $"must be within 0..{Config.NumHiddenLayers}.");
        using var _ = no_grad();
        return vision_model.forward(pixelValues, count).Select(s => s!).ToList();
    }

    /// <summary>
    /// <see cref="Features"/> without gradients, for a frozen tower.
    /// </summary>
    /// <param name="pixelValues">[B, C, image_size, image_size].</param>
    /// <returns>[B, <see cref="TokenCount"/>, <see cref="OutputWidth"/>].</returns>
    public Tensor SelectFeatures(Tensor pixelValues)
    {
        using var _ = no_grad();
        return Features(pixelValues);
    }

    /// <summary>
    /// The features LLaVA projects: the selected hidden states (CLS dropped under the <c>default</c> strategy),
    /// concatenated along the feature dimension when several layers are selected. Layers past the deepest selected one
    /// are not run. Autograd follows the caller, so the tower itself can be trained (vision pretraining).
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
