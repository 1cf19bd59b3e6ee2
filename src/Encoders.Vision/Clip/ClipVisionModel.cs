using LlavaModal.Abstractions.Weights;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Clip;

/// <summary>
/// The CLIP vision tower as LLaVA uses it. Parameter names equal the checkpoint's (<c>vision_model.embeddings.class_embedding</c>,
/// <c>vision_model.encoder.layers.0.self_attn.q_proj.weight</c>, ...) minus the LLaVA prefix (<c>vision_tower.</c> in
/// older llava-hf checkpoints, <c>model.vision_tower.</c> in newer ones), so loading is one prefix mapping.
/// <see cref="SelectFeatures"/> returns the hidden states LLaVA projects, running only the layers it needs.
/// </summary>
public sealed class ClipVisionModel : nn.Module
{
    /// <summary>The checkpoint prefixes of LLaVA vision towers, newest layout first.</summary>
    public static readonly IReadOnlyList<string> LlavaPrefixes = ["model.vision_tower.", "vision_tower."];

    const string ProbeTensor = "vision_model.embeddings.class_embedding";

#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly ClipVisionTransformer vision_model;
#pragma warning restore IDE1006
    readonly int[] selectedStates;

    /// <summary>Creates a randomly initialised tower (weights are normally loaded right after).</summary>
    /// <param name="config">The architecture.</param>
    /// <param name="selection">Which hidden states <see cref="SelectFeatures"/> returns (default: LLaVA-1.5's, layer -2 without CLS).</param>
    /// <param name="dtype">Weights and activations dtype.</param>
    /// <param name="device">Device (default CPU; <c>meta</c> builds shapes only).</param>
    /// <exception cref="ArgumentException">The selection names a hidden state the tower does not have.</exception>
    public ClipVisionModel(ClipVisionConfig config, ClipFeatureSelection? selection = null, ScalarType dtype = ScalarType.Float32, Device? device = null)
        : base(nameof(ClipVisionModel))
    {
        Config = config;
        Selection = selection ?? ClipFeatureSelection.Default;
        selectedStates = Selection.Resolve(config.NumHiddenLayers);
        DType = dtype;
        Device = device ?? CPU;
        vision_model = new ClipVisionTransformer(config, dtype, Device);
        RegisterComponents();
    }

    /// <summary>The architecture.</summary>
    public ClipVisionConfig Config { get; }

    /// <summary>The hidden states <see cref="SelectFeatures"/> returns.</summary>
    public ClipFeatureSelection Selection { get; }

    /// <summary>The dtype of the weights and activations.</summary>
    public ScalarType DType { get; }

    /// <summary>The device the tower lives on.</summary>
    public Device Device { get; }

    /// <summary>Width of each selected feature vector: hidden size times the number of selected layers.</summary>
    public int OutputWidth => Config.HiddenSize * selectedStates.Length;

    /// <summary>Feature vectors per image: the patches, plus the CLS token under the <c>full</c> strategy.</summary>
    public int TokenCount => Config.NumPatches + (Selection.KeepsClsToken ? 1 : 0);

    /// <summary>
    /// The prefix of the vision tower in a LLaVA checkpoint: <c>model.vision_tower.</c> or <c>vision_tower.</c>.
    /// </summary>
    /// <exception cref="CheckpointException">Neither layout's class embedding is present.</exception>
    public static string DetectPrefix(IWeightSource checkpoint) =>
        LlavaPrefixes.FirstOrDefault(p => checkpoint.Contains(p + ProbeTensor))
        ?? throw new CheckpointException(checkpoint.Directory,
            $"no CLIP vision tower found (looked for {string.Join(" and ", LlavaPrefixes.Select(p => $"'{p}{ProbeTensor}'"))}).");

    /// <summary>
    /// Loads the tower from <paramref name="checkpoint"/>, reading parameter <c>p</c> from tensor <c>prefix + p</c>.
    /// Strict: every tensor under <c>prefix + "vision_model."</c> must be used (the legacy <c>embeddings.position_ids</c>
    /// buffer excepted); tensors elsewhere (decoder, projector, CLIP text tower) are ignored.
    /// </summary>
    /// <exception cref="CheckpointMismatchException">Missing, unexpected or wrongly-shaped tensors, all named.</exception>
    public static ClipVisionModel Load(IWeightSource checkpoint, ClipVisionConfig config, string prefix, ScalarType dtype, Device device, ClipFeatureSelection? selection = null)
    {
        ClipVisionModel model;
        using (WeightInit.SkipRandomInit()) model = new ClipVisionModel(config, selection, dtype, device);
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
    /// Loads the vision tower of a LLaVA checkpoint: architecture from <c>vision_config</c>, feature selection from
    /// <c>vision_feature_layer</c> / <c>vision_feature_select_strategy</c>, tensor prefix detected.
    /// </summary>
    public static ClipVisionModel LoadFromLlava(JsonConfig llavaConfig, IWeightSource checkpoint, ScalarType dtype, Device device)
    {
        var config = ClipVisionConfig.FromJson(llavaConfig.Section("vision_config"));
        var selection = ClipFeatureSelection.FromJson(llavaConfig, config);
        return Load(checkpoint, config, DetectPrefix(checkpoint), dtype, device, selection);
    }

    /// <summary>
    /// Loads a Hugging Face CLIP folder: a <c>CLIPVisionModel</c> or a full <c>CLIPModel</c> (its text tower is
    /// ignored), or a LLaVA folder (its vision tower, with the configured feature selection).
    /// </summary>
    /// <param name="directory">Folder with <c>config.json</c> and safetensors weights.</param>
    /// <param name="dtype">Weights dtype (default float32).</param>
    /// <param name="device">Device (default CPU).</param>
    /// <param name="selection">Feature selection (default: the LLaVA config's, else layer -2 without CLS).</param>
    public static ClipVisionModel FromPretrained(string directory, ScalarType? dtype = null, Device? device = null, ClipFeatureSelection? selection = null)
    {
        if (!System.IO.Directory.Exists(directory)) throw new CheckpointException(directory, "model folder not found.");
        var json = JsonConfig.Load(Path.Combine(directory, "config.json"));
        using var checkpoint = SafeTensorsCheckpoint.Open(directory);
        if (json.OptionalString("model_type") == "llava" && !checkpoint.Contains(ProbeTensor))
        {
            var config = ClipVisionConfig.FromJson(json.Section("vision_config"));
            selection ??= ClipFeatureSelection.FromJson(json, config);
            return Load(checkpoint, config, DetectPrefix(checkpoint), dtype ?? ScalarType.Float32, device ?? CPU, selection);
        }
        if (!checkpoint.Contains(ProbeTensor))
            throw new CheckpointException(directory, $"not a CLIP vision checkpoint: tensor '{ProbeTensor}' not found.");
        return Load(checkpoint, ClipVisionConfig.Load(Path.Combine(directory, "config.json")), "", dtype ?? ScalarType.Float32, device ?? CPU, selection);
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
    /// The features LLaVA projects: the selected hidden states (CLS dropped under the <c>default</c> strategy),
    /// concatenated along the feature dimension when several layers are selected. Layers past the deepest selected one are not run.
    /// </summary>
    /// <param name="pixelValues">[B, C, image_size, image_size].</param>
    /// <returns>[B, <see cref="TokenCount"/>, <see cref="OutputWidth"/>].</returns>
    public Tensor SelectFeatures(Tensor pixelValues)
    {
        using var _ = no_grad();
        return SelectFeaturesWithGrad(pixelValues);
    }

    /// <summary>
    /// <see cref="SelectFeatures"/> with autograd left as the caller set it, so the tower itself can be trained
    /// (vision pretraining); frozen-tower callers use <see cref="SelectFeatures"/>.
    /// </summary>
    internal Tensor SelectFeaturesWithGrad(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        var states = vision_model.forward(pixelValues, selectedStates.Max(), i => selectedStates.Contains(i));
        var picked = selectedStates.Select(i => states[i]!).Select(s => Selection.KeepsClsToken ? s : s.narrow(1, 1, s.shape[1] - 1)).ToList();
        var features = picked.Count == 1 ? picked[0].alias() : cat(picked, -1);
        return features.MoveToOuterDisposeScope();
    }
}
