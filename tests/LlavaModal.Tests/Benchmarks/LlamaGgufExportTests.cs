using LlavaModal.Abstractions.Tensors;
using LlavaModal.Benchmarks.Gguf;
using LlavaModal.Cli;
using LlavaModal.Cli.Commands;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Benchmarks;

/// <summary>The GGUF export that lets the <c>llamacpp</c> benchmark run llama.cpp on our checkpoints.</summary>
public class LlamaGgufExportTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Export_reads_back_with_llama_metadata_names_shapes_and_aligned_data(bool f16)
    {
        var type = f16 ? GgmlType.F16 : GgmlType.F32;
        using var dir = new TempDir();
        var config = Presets.Llama["tiny"];
        var model = Path.Combine(dir.Path, "model");
        InitCommand.Write(model, config, seed: 3, maxShardBytes: 1L << 30);
        var path = dir.File("model.gguf");
        LlamaGgufExport.Write(model, path, type);

        var gguf = GgufReader.Open(path);
        Assert.Equal(3u, gguf.Version);
        Assert.Equal("llama", gguf.Metadata["general.architecture"]);
        Assert.Equal((uint)config.NumHiddenLayers, gguf.Metadata["llama.block_count"]);
        Assert.Equal((uint)config.HiddenSize, gguf.Metadata["llama.embedding_length"]);
        Assert.Equal((uint)config.IntermediateSize, gguf.Metadata["llama.feed_forward_length"]);
        Assert.Equal((uint)config.NumAttentionHeads, gguf.Metadata["llama.attention.head_count"]);
        Assert.Equal((uint)config.NumKeyValueHeads, gguf.Metadata["llama.attention.head_count_kv"]);
        Assert.Equal((uint)config.HeadDim, gguf.Metadata["llama.rope.dimension_count"]);
        Assert.Equal((float)config.RopeTheta, gguf.Metadata["llama.rope.freq_base"]);
        Assert.Equal((float)config.RmsNormEps, gguf.Metadata["llama.attention.layer_norm_rms_epsilon"]);
        Assert.Equal((long)config.VocabSize, gguf.Metadata["tokenizer.ggml.tokens"]);

        Assert.Equal(2 + 9 * config.NumHiddenLayers + 1, gguf.Tensors.Count);
        var byName = gguf.Tensors.ToDictionary(t => t.Name);
        Assert.Equal([config.HiddenSize, config.VocabSize], byName["token_embd.weight"].Dims);
        Assert.Equal([config.HiddenSize, config.NumKeyValueHeads * config.HeadDim], byName["blk.3.attn_k.weight"].Dims);
        Assert.Equal([config.IntermediateSize, config.HiddenSize], byName["blk.0.ffn_down.weight"].Dims);
        Assert.Equal(type, byName["output.weight"].Type);
        Assert.Equal(GgmlType.F32, byName["blk.2.ffn_norm.weight"].Type);
        long end = 0;
        foreach (var t in gguf.Tensors)
        {
            Assert.Equal(0, t.Offset % GgufWriter.Alignment);
            Assert.True(t.Offset >= end, $"{t.Name} overlaps the tensor before it");
            end = t.Offset + t.Bytes;
        }
        Assert.Equal(gguf.DataStart + GgufWriter.Align(end), new FileInfo(path).Length);

        using var checkpoint = SafeTensorsCheckpoint.Open(model);
        using var v = checkpoint.Read("model.layers.1.self_attn.v_proj.weight", ScalarType.Float32);
        using var storedV = ReadTensor(path, gguf, byName["blk.1.attn_v.weight"]);
        Assert.Equal(0.0, Parity.RelativeError(storedV, v), type == GgmlType.F32 ? 0.0 : 1e-3);
        using var q = checkpoint.Read("model.layers.1.self_attn.q_proj.weight", ScalarType.Float32);
        using var storedQ = ReadTensor(path, gguf, byName["blk.1.attn_q.weight"]);
        using var interleaved = LlamaGgufExport.InterleaveRotaryRows(q, config.NumAttentionHeads);
        Assert.Equal(0.0, Parity.RelativeError(storedQ, interleaved), type == GgmlType.F32 ? 0.0 : 1e-3);
        Assert.True(Parity.RelativeError(storedQ, q) > 0.1, "q rows are reordered for llama.cpp's rope");
    }

    [Fact]
    public void Interleaved_rows_under_adjacent_pair_rope_give_the_rotate_half_result_in_the_same_order()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        const int heads = 3, d = 8, input = 5;
        var w = randn(heads * d, input);
        var x = randn(input);
        var angle = rand(d / 2).MulScalar(3);
        // Hugging Face: per head, [first halves; second halves] rotated by rotate_half.
        var q = matmul(w, x).reshape(heads, d);
        var cos = cat([angle.cos(), angle.cos()]);
        var sin = cat([angle.sin(), angle.sin()]);
        var rotateHalf = cat([-q.narrow(1, d / 2, d / 2), q.narrow(1, 0, d / 2)], 1);
        var hf = q * cos + rotateHalf * sin;
        // llama.cpp's llama rope: adjacent pairs (2j, 2j + 1) rotated by angle j, on the interleaved rows.
        var p = matmul(LlamaGgufExport.InterleaveRotaryRows(w, heads), x).reshape(heads, d / 2, 2);
        var (a, b) = (p.select(2, 0), p.select(2, 1));
        var llama = stack([a * angle.cos() - b * angle.sin(), a * angle.sin() + b * angle.cos()], 2).reshape(heads, d);
        // The same vector, its rows in llama.cpp's order: HF row j goes to 2j, row j + d/2 to 2j + 1.
        var hfInLlamaOrder = stack([hf.narrow(1, 0, d / 2), hf.narrow(1, d / 2, d / 2)], 2).reshape(heads, d);
        Assert.True(Parity.RelativeError(llama, hfInLlamaOrder) < 1e-6);
        // Attention scores are dot products of such vectors, so they are unchanged by the common reordering.
    }

    /// <summary>A tensor's stored values (f32 or f16) read back from a GGUF file, in the checkpoint's shape.</summary>
    internal static Tensor ReadTensor(string path, GgufReader gguf, GgufTensorInfo info)
    {
        using var file = File.OpenRead(path);
        file.Position = gguf.DataStart + info.Offset;
        var bytes = new byte[info.Bytes];
        file.ReadExactly(bytes);
        var shape = info.Dims.Reverse().ToArray();
        var values = info.Type == GgmlType.F32
            ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).ToArray()
            : System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(bytes).ToArray().Select(h => (float)h).ToArray();
        return tensor(values).reshape(shape);
    }
}
