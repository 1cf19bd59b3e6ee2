using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Modules;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Llama;

/// <summary>The LLaMA decoder stack: token embeddings, N pre-norm decoder layers, final RMSNorm.</summary>
sealed class LlamaModel : nn.Module
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly nn.Module<Tensor, Tensor> embed_tokens;
    readonly ModuleList<LlamaDecoderLayer> layers;
    readonly RmsNorm norm;
#pragma warning restore IDE1006
    readonly int?[] windows;
    readonly RotaryEmbedding rotary;

    public LlamaModel(ILlamaLayers c, ModelBuildContext build) : base(nameof(LlamaModel))
    {
        windows = Enumerable.Range(0, c.NumHiddenLayers).Select(c.SlidingWindowOf).ToArray();
        dtype = build.DType;
        var tiedHead = c.TieWordEmbeddings ? HeadSpec(c) : null;
        embed_tokens = build.Linear.CreateEmbedding(c.VocabSize, c.HiddenSize, tiedHead, build.DType, build.Device)
            ?? WeightInit.Embedding(c.VocabSize, c.HiddenSize, device: build.Device, dtype: build.DType);
        layers = new ModuleList<LlamaDecoderLayer>(Enumerable.Range(0, c.NumHiddenLayers).Select(i => new LlamaDecoderLayer(c, i, build)).ToArray());
        norm = new RmsNorm(c.HiddenSize, c.RmsNormEps, build.DType, build.Device);
        rotary = new RotaryEmbedding(c.HeadDim, c.RopeTheta, c.RopeScaling, c.MaxPositionEmbeddings, c.MropeSection);
        RegisterComponents();
    }

    readonly ScalarType dtype;

    /// <summary>The embeddings of <paramref name="inputIds"/> in the model's dtype (the table may be held otherwise: <see cref="ILinearFactory.CreateEmbedding"/>).</summary>
    public Tensor Embed(Tensor inputIds)
    {
        var e = embed_tokens.forward(inputIds);
        if (e.dtype == dtype) return e;
        using (e) return e.to(dtype);
    }

    static LinearSpec HeadSpec(ILlamaLayers c) => new("lm_head", c.HiddenSize, c.VocabSize, Bias: false);

    /// <summary>The embedding table [vocab, hidden] (a tied head reads it; factories keep a tied table a TorchSharp <c>Embedding</c>).</summary>
    Tensor Table() => embed_tokens is Embedding e ? e.weight!
        : throw new InvalidOperationException($"{embed_tokens.GetType().Name} does not expose its table; a table tied to the head must stay an Embedding.");

    /// <summary>
    /// The vocabulary head of a decoder shaped as <paramref name="c"/> says: <c>lm_head</c>; when tied, what the linear
    /// factory makes of the embedding table, or null for the table itself.
    /// </summary>
    public nn.Module<Tensor, Tensor>? CreateHead(ILlamaLayers c, ModelBuildContext build)
    {
        var spec = HeadSpec(c);
        return c.TieWordEmbeddings ? build.Linear.CreateTied(spec, Table, build.DType, build.Device)
            : build.Linear.Create(spec, build.DType, build.Device);
    }

    /// <summary>
    /// <see cref="forward"/> then the vocabulary head (<paramref name="head"/>, or the embedding matrix when null): the body
    /// of every LLaMA-style <see cref="CausalLanguageModel.Forward"/>.
    /// </summary>
    /// <returns>Logits [B, T or 1, vocab] in float32.</returns>
    public Tensor Logits(nn.Module<Tensor, Tensor>? head, Tensor inputsEmbeds, Tensor positionIds, Tensor? padding, IKvCache? cache, bool lastOnly, List<Tensor>? hiddenStates)
    {
        using var scope = NewDisposeScope();
        int firstState = hiddenStates?.Count ?? 0;
        // The norm is per position: for the last one only, only its row is normed (a prompt piece's [T, hidden] is not).
        var h = hiddenStates is null && lastOnly ? Normed(Unnormed(inputsEmbeds, positionIds, padding, cache, null), last: true)
            : forward(inputsEmbeds, positionIds, padding, cache, hiddenStates);
        for (int i = firstState; i < (hiddenStates?.Count ?? 0); i++) hiddenStates![i].MoveToOuterDisposeScope();
        if (lastOnly && h.shape[1] > 1) h = h.narrow(1, h.shape[1] - 1, 1);
        var table = head is null ? Table() : null;
        var logits = head is not null ? head.forward(h) : nn.functional.linear(h, table!.dtype == h.dtype ? table : table.to(h.dtype));
        return logits.to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <param name="inputsEmbeds">[B, T, hidden].</param>
    /// <param name="positionIds">[B, T] int64, or [3, B, T] with M-RoPE.</param>
    /// <param name="padding">[B, past + T], 1 for real tokens, 0 for padding; null when nothing is padded.</param>
    /// <param name="cache">Cache to read and extend, or null.</param>
    /// <param name="hiddenStates">When given, receives the embeddings and every layer's output (the last one normed), as the reference's <c>output_hidden_states</c>.</param>
    /// <returns>Final normed hidden states [B, T, hidden].</returns>
    public Tensor forward(Tensor inputsEmbeds, Tensor positionIds, Tensor? padding, IKvCache? cache, List<Tensor>? hiddenStates = null)
    {
        using var scope = NewDisposeScope();
        var output = Normed(Unnormed(inputsEmbeds, positionIds, padding, cache, hiddenStates), last: false).MoveToOuterDisposeScope();
        hiddenStates?.Add(output.alias().MoveToOuterDisposeScope());
        return output;
    }

    /// <summary>The layers' output before the final norm [B, T, hidden], the cache advanced past the new positions.</summary>
    Tensor Unnormed(Tensor inputsEmbeds, Tensor positionIds, Tensor? padding, IKvCache? cache, List<Tensor>? hiddenStates)
    {
        // A decode step or prompt piece of packed layers runs in C# where it can (LlamaKernelLayers); the modules run otherwise.
        var h = hiddenStates is not null ? null
            : inputsEmbeds.shape[1] == 1 ? LlamaKernelLayers.TryStep(layers, rotary, windows, inputsEmbeds, positionIds, padding, cache)
            : LlamaKernelLayers.TryPrompt(layers, rotary, windows, inputsEmbeds, positionIds, padding, cache);
        h ??= Layers(inputsEmbeds, positionIds, padding, cache, hiddenStates);
        cache?.Advance(inputsEmbeds.shape[1]);
        return h;
    }

    /// <summary>The final norm of <paramref name="h"/> [B, T, hidden], or of its <paramref name="last"/> position only [B, 1, hidden].</summary>
    Tensor Normed(Tensor h, bool last) => norm.forward(last ? h.narrow(1, h.shape[1] - 1, 1).contiguous() : h);

    /// <summary>The decoder layers' output (before the final norm), each layer a module call.</summary>
    Tensor Layers(Tensor inputsEmbeds, Tensor positionIds, Tensor? padding, IKvCache? cache, List<Tensor>? hiddenStates)
    {
        long b = inputsEmbeds.shape[0], t = inputsEmbeds.shape[1];
        long past = cache?.Length ?? 0;
        var (cos, sin) = rotary.Compute(positionIds, past + t, inputsEmbeds.dtype);
        // [B, 1, T, d] for every head, once for all layers.
        cos = cos.unsqueeze(1);
        var signedSin = RotaryEmbedding.SignedSin(sin.unsqueeze(1));
        // One mask per distinct window (full causal for null): Qwen2 windows only the layers from max_window_layers on.
        // One new position with nothing padded sees every cached key (within its window): no mask at all.
        var masks = new Dictionary<int, Tensor?>();
        Tensor? MaskFor(int? window) => masks.TryGetValue(window ?? 0, out var m) ? m
            : masks[window ?? 0] = t == 1 && padding is null && (window is not int w || past + 1 <= w) ? null
                : AttentionMask.Build(padding, b, past, t, window, inputsEmbeds.dtype, inputsEmbeds.device);
        var h = inputsEmbeds;
        for (int i = 0; i < layers.Count; i++)
        {
            hiddenStates?.Add(h.alias().MoveToOuterDisposeScope());
            // A prompt (or a later piece of one) with nothing padded, inside the layer's window: plain causal (kernels may skip the mask).
            bool causal = t > 1 && padding is null && (windows[i] is not int w || past + t <= w);
            var next = layers[i].forward(h, cos, signedSin, MaskFor(windows[i]), cache, causal);
            // A layer's input is freed as soon as the next exists (unless it is the caller's or kept in hiddenStates):
            // a prompt otherwise holds every layer's [T, hidden] output until the forward ends (88 MiB at 1.1B, T = 511).
            if (i > 0 && hiddenStates is null) h.Dispose();
            h = next;
        }
        return h;
    }
}
