using System.Runtime.InteropServices;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Decoder.Llama;
using static TorchSharp.torch;

namespace LlavaModal.Benchmarks.Gguf;

/// <summary>
/// Writes a LLaMA checkpoint folder (Hugging Face names, safetensors) as a GGUF file of llama.cpp's <c>llama</c>
/// architecture, in f32 or f16 (norms stay f32, as llama.cpp's own converter keeps them), so that llama.cpp and we run
/// the same weights. The vocabulary is synthetic (the checkpoints of <c>init</c> have no 32000-token tokenizer): the
/// benchmark feeds token ids, so only the count and a valid SentencePiece layout matter.
/// </summary>
static class LlamaGgufExport
{
    /// <summary>Writes <paramref name="outPath"/> (which must not exist) from <paramref name="checkpointDir"/>.</summary>
    public static void Write(string checkpointDir, string outPath, GgmlType type)
    {
        if (type is not (GgmlType.F32 or GgmlType.F16)) throw new ArgumentException($"GGUF export writes f32 or f16, not {type} (llama-quantize makes the others).");
        if (File.Exists(outPath)) throw new ArgumentException($"{outPath} exists; not overwriting it.");
        var config = LlamaConfig.Load(Path.Combine(checkpointDir, "config.json"));
        if (config.RopeScaling is not null || config.AttentionBias || config.MlpBias || config.SlidingWindow is not null)
            throw new ArgumentException($"{checkpointDir}: only plain LLaMA checkpoints are exported (no rope scaling, biases or sliding window).");
        if (config.VocabSize < SyntheticVocabulary.Reserved)
            throw new ArgumentException($"{checkpointDir}: vocab_size {config.VocabSize} is below the {SyntheticVocabulary.Reserved} tokens a SentencePiece GGUF vocabulary needs.");
        using var checkpoint = SafeTensorsCheckpoint.Open(checkpointDir);

        var gguf = new GgufWriter();
        const string arch = "llama";
        gguf.Add("general.architecture", arch);
        gguf.Add("general.name", Path.GetFileName(Path.GetFullPath(checkpointDir)));
        gguf.Add("general.file_type", type == GgmlType.F32 ? 0u : 1u); // LLAMA_FTYPE_ALL_F32, LLAMA_FTYPE_MOSTLY_F16
        (string Key, int Value)[] sizes =
        [
            ("vocab_size", config.VocabSize), ("context_length", config.MaxPositionEmbeddings), ("embedding_length", config.HiddenSize),
            ("block_count", config.NumHiddenLayers), ("feed_forward_length", config.IntermediateSize),
            ("attention.head_count", config.NumAttentionHeads), ("attention.head_count_kv", config.NumKeyValueHeads),
            ("attention.key_length", config.HeadDim), ("attention.value_length", config.HeadDim), ("rope.dimension_count", config.HeadDim),
        ];
        foreach (var (key, value) in sizes) gguf.Add($"{arch}.{key}", (uint)value);
        gguf.Add($"{arch}.rope.freq_base", (float)config.RopeTheta);
        gguf.Add($"{arch}.attention.layer_norm_rms_epsilon", (float)config.RmsNormEps);
        SyntheticVocabulary.Add(gguf, config.VocabSize);

        AddTensor(gguf, checkpoint, "model.embed_tokens.weight", "token_embd.weight", type, null);
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            string hf = $"model.layers.{i}.", blk = $"blk.{i}.";
            AddTensor(gguf, checkpoint, hf + "input_layernorm.weight", blk + "attn_norm.weight", type, null);
            AddTensor(gguf, checkpoint, hf + "self_attn.q_proj.weight", blk + "attn_q.weight", type, config.NumAttentionHeads);
            AddTensor(gguf, checkpoint, hf + "self_attn.k_proj.weight", blk + "attn_k.weight", type, config.NumKeyValueHeads);
            AddTensor(gguf, checkpoint, hf + "self_attn.v_proj.weight", blk + "attn_v.weight", type, null);
            AddTensor(gguf, checkpoint, hf + "self_attn.o_proj.weight", blk + "attn_output.weight", type, null);
            AddTensor(gguf, checkpoint, hf + "post_attention_layernorm.weight", blk + "ffn_norm.weight", type, null);
            AddTensor(gguf, checkpoint, hf + "mlp.gate_proj.weight", blk + "ffn_gate.weight", type, null);
            AddTensor(gguf, checkpoint, hf + "mlp.up_proj.weight", blk + "ffn_up.weight", type, null);
            AddTensor(gguf, checkpoint, hf + "mlp.down_proj.weight", blk + "ffn_down.weight", type, null);
        }
        AddTensor(gguf, checkpoint, "model.norm.weight", "output_norm.weight", type, null);
        if (!config.TieWordEmbeddings) AddTensor(gguf, checkpoint, "lm_head.weight", "output.weight", type, null);
        gguf.Write(outPath);
    }

    /// <summary>
    /// Hugging Face LLaMA stores each head's query/key rows as [first halves of the rotary pairs; second halves]
    /// (rotate_half), llama.cpp's <c>llama</c> rope rotates adjacent pairs: rows (h, j) and (h, j + d/2) move to
    /// (h, 2j) and (h, 2j + 1), the same reordering llama.cpp's converter applies, so both compute the same function.
    /// </summary>
    public static Tensor InterleaveRotaryRows(Tensor weight, int heads)
    {
        long rows = weight.shape[0], cols = weight.shape[1];
        if (rows % (2 * heads) != 0) throw new ArgumentException($"{rows} rows do not split into {heads} heads of rotary pairs.");
        return weight.reshape(heads, 2, rows / heads / 2, cols).transpose(1, 2).reshape(rows, cols).contiguous();
    }

    /// <summary>Adds checkpoint tensor <paramref name="hfName"/> as <paramref name="ggufName"/> in <paramref name="type"/> (1-D tensors in f32), rows reordered for llama.cpp's rope when <paramref name="rotaryHeads"/> is given.</summary>
    internal static void AddTensor(GgufWriter gguf, SafeTensorsCheckpoint checkpoint, string hfName, string ggufName, GgmlType type, int? rotaryHeads)
    {
        if (!checkpoint.Contains(hfName)) throw new ArgumentException($"{checkpoint.Directory}: tensor '{hfName}' is missing.");
        var shape = checkpoint.Shape(hfName);
        // ggml lists dimensions innermost first; 1-D tensors (norms) stay f32.
        var dims = shape.Reverse().ToArray();
        var stored = shape.Count == 1 ? GgmlType.F32 : type;
        long bytes = dims.Aggregate(1L, (a, b) => a * b) * (stored == GgmlType.F32 ? 4 : 2);
        gguf.Add(new GgufTensor(ggufName, dims, stored, bytes, stream =>
        {
            using var scope = NewDisposeScope();
            var t = checkpoint.Read(hfName, ScalarType.Float32);
            if (rotaryHeads is int heads) t = InterleaveRotaryRows(t, heads);
            t = t.to_type(stored == GgmlType.F32 ? ScalarType.Float32 : ScalarType.Float16).contiguous();
            WriteBytes(stream, t);
        }));
    }

    static void WriteBytes(Stream stream, Tensor t)
    {
        if (t.dtype == ScalarType.Float32) stream.Write(MemoryMarshal.AsBytes(t.data<float>().ToArray().AsSpan()));
        else stream.Write(MemoryMarshal.AsBytes(t.data<Half>().ToArray().AsSpan()));
    }
}
