using LlavaModal.Abstractions;
using LlavaModal.Core.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Llama;

/// <summary>
/// The LLaMA language model with its vocabulary head, loaded from a Hugging Face folder. Module paths equal the
/// checkpoint's tensor names (<c>model.layers.0.self_attn.q_proj.weight</c>, <c>lm_head.weight</c>), so
/// loading is one name mapping.
/// </summary>
public sealed class LlamaForCausalLM : nn.Module
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly LlamaModel model;
    readonly nn.Module<Tensor, Tensor>? lm_head;
#pragma warning restore IDE1006

    /// <summary>Creates a randomly initialised model (weights are normally loaded right after).</summary>
    public LlamaForCausalLM(LlamaConfig config, ScalarType? dtype = null, Device? device = null) : base(nameof(LlamaForCausalLM))
    {
        Config = config;
        DType = dtype ?? config.TorchDType;
        Device = device ?? CPU;
        model = new LlamaModel(config, DType, Device);
        if (!config.TieWordEmbeddings)
            lm_head = WeightInit.Linear(config.HiddenSize, config.VocabSize, hasBias: false, device: Device, dtype: DType);
        RegisterComponents();
    }

    /// <summary>The architecture.</summary>
    public LlamaConfig Config { get; }

    /// <summary>The dtype of the weights and activations.</summary>
    public ScalarType DType { get; }

    /// <summary>The device the model lives on.</summary>
    public Device Device { get; }

    /// <summary>Loads a model from a folder holding <c>config.json</c> and safetensors weights.</summary>
    /// <param name="directory">Hugging Face model folder.</param>
    /// <param name="dtype">Convert weights to this dtype (default: as stored, per <c>torch_dtype</c>).</param>
    /// <param name="device">Target device (default CPU).</param>
    public static LlamaForCausalLM FromPretrained(string directory, ScalarType? dtype = null, Device? device = null)
    {
        if (!System.IO.Directory.Exists(directory)) throw new CheckpointException(directory, "model folder not found.");
        var config = LlamaConfig.Load(Path.Combine(directory, "config.json"));
        using var checkpoint = SafeTensorsCheckpoint.Open(directory);
        LlamaForCausalLM lm;
        using (WeightInit.SkipRandomInit()) lm = new LlamaForCausalLM(config, dtype, device);
        var layout = DecoderWeightLayout.Detect(checkpoint);
        lm.LoadWeights(checkpoint, layout.ToCheckpointName, layout.BelongsToDecoder);
        return lm;
    }

    /// <summary>Loads weights whose names map to this module's through <paramref name="toCheckpointName"/>.</summary>
    public void LoadWeights(SafeTensorsCheckpoint checkpoint, Func<string, string> toCheckpointName, Func<string, bool> belongsToModel)
    {
        // A tied checkpoint may still carry a copy of lm_head.weight; it is the same tensor, so it is not "unexpected".
        var tiedHead = toCheckpointName("lm_head.weight");
        StateDictLoader.Load(this, checkpoint, toCheckpointName, n => belongsToModel(n) && !(Config.TieWordEmbeddings && n == tiedHead));
        eval();
    }

    /// <summary>Token embeddings of <paramref name="inputIds"/> [B, T].</summary>
    public Tensor Embed(Tensor inputIds) => model.EmbedTokens.forward(inputIds);

    /// <summary>
    /// Runs the decoder and the vocabulary head.
    /// </summary>
    /// <param name="inputsEmbeds">[B, T, hidden].</param>
    /// <param name="positionIds">[B, T] int64.</param>
    /// <param name="padding">[B, past + T] 1/0 mask, or null.</param>
    /// <param name="cache">KV cache to extend, or null.</param>
    /// <param name="lastOnly">Compute logits for the last position only (generation).</param>
    /// <param name="hiddenStates">Receives per-layer hidden states when given.</param>
    /// <returns>Logits [B, T or 1, vocab] in float32.</returns>
    public Tensor Forward(Tensor inputsEmbeds, Tensor positionIds, Tensor? padding = null, KvCache? cache = null, bool lastOnly = false, List<Tensor>? hiddenStates = null)
    {
        using var scope = NewDisposeScope();
        int firstState = hiddenStates?.Count ?? 0;
        var h = model.forward(inputsEmbeds, positionIds, padding, cache, hiddenStates);
        for (int i = firstState; i < (hiddenStates?.Count ?? 0); i++) hiddenStates![i].MoveToOuterDisposeScope();
        if (lastOnly) h = h.narrow(1, h.shape[1] - 1, 1);
        var logits = lm_head is not null ? lm_head.forward(h) : nn.functional.linear(h, model.EmbedTokens.weight!);
        return logits.to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>Number of parameters.</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());
}
