using LlavaModal.Abstractions.Tensors;
using LlavaModal.Core.Checkpoints;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Decoder;

/// <summary>
/// A hand-made LLaMA-style checkpoint (Mistral, Qwen2, Qwen3) described by its equations, with an independent forward
/// pass: float64, tensors read by their Hugging Face names from the safetensors file, one head at a time, rotary angles
/// and the causal / sliding-window mask computed with plain loops. Nothing here calls the library's modules, so a test
/// comparing the two checks the library against the published definitions (transformers' modeling_mistral / qwen2 /
/// qwen3: pre-norm RMSNorm layers, q/k/v/o projections, rotate-half RoPE, SwiGLU MLP).
/// </summary>
public sealed record ReferenceDecoder
{
    public required int Vocab { get; init; }
    public required int Hidden { get; init; }
    public required int Intermediate { get; init; }
    public required int Layers { get; init; }
    public required int Heads { get; init; }
    public required int KvHeads { get; init; }
    public required int HeadDim { get; init; }
    public double Eps { get; init; } = 1e-6;
    public double Theta { get; init; } = 10000;
    public bool Tied { get; init; }
    /// <summary>Biases on q/k/v (Qwen2; Qwen3 with attention_bias).</summary>
    public bool QkvBias { get; init; }
    /// <summary>Bias on o_proj (Qwen3 with attention_bias).</summary>
    public bool OutputBias { get; init; }
    /// <summary>Qwen3's q_norm / k_norm over each head.</summary>
    public bool QkNorm { get; init; }
    /// <summary>Positions layer l attends back to (itself included), or null.</summary>
    public Func<int, int?> Window { get; init; } = _ => null;

    /// <summary>The checkpoint's tensors (Hugging Face names) and shapes.</summary>
    public IEnumerable<(string Name, long[] Shape)> Tensors()
    {
        yield return ("model.embed_tokens.weight", [Vocab, Hidden]);
        for (int l = 0; l < Layers; l++)
        {
            var p = $"model.layers.{l}.";
            yield return (p + "input_layernorm.weight", [Hidden]);
            yield return (p + "post_attention_layernorm.weight", [Hidden]);
            yield return (p + "self_attn.q_proj.weight", [Heads * HeadDim, Hidden]);
            yield return (p + "self_attn.k_proj.weight", [KvHeads * HeadDim, Hidden]);
            yield return (p + "self_attn.v_proj.weight", [KvHeads * HeadDim, Hidden]);
            yield return (p + "self_attn.o_proj.weight", [Hidden, Heads * HeadDim]);
            if (QkvBias)
            {
                yield return (p + "self_attn.q_proj.bias", [Heads * HeadDim]);
                yield return (p + "self_attn.k_proj.bias", [KvHeads * HeadDim]);
                yield return (p + "self_attn.v_proj.bias", [KvHeads * HeadDim]);
            }
            if (OutputBias) yield return (p + "self_attn.o_proj.bias", [Hidden]);
            if (QkNorm)
            {
                yield return (p + "self_attn.q_norm.weight", [HeadDim]);
                yield return (p + "self_attn.k_norm.weight", [HeadDim]);
            }
            yield return (p + "mlp.gate_proj.weight", [Intermediate, Hidden]);
            yield return (p + "mlp.up_proj.weight", [Intermediate, Hidden]);
            yield return (p + "mlp.down_proj.weight", [Hidden, Intermediate]);
        }
        yield return ("model.norm.weight", [Hidden]);
        if (!Tied) yield return ("lm_head.weight", [Vocab, Hidden]);
    }

    /// <summary>Writes <c>config.json</c> (as given) and random weights (norm weights near 1) into <paramref name="directory"/>.</summary>
    public void WriteCheckpoint(string directory, string configJson, long seed)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "config.json"), configJson);
        var generator = new Generator((ulong)seed);
        var tensors = new List<KeyValuePair<string, Tensor>>();
        foreach (var (name, shape) in Tensors())
        {
            var noise = randn(shape, generator: generator).MulScalar(name.EndsWith("norm.weight", StringComparison.Ordinal) ? 0.1 : 0.2);
            tensors.Add(new(name, name.EndsWith("norm.weight", StringComparison.Ordinal) ? noise.AddScalar(1.0) : noise));
        }
        SafeTensorsWriter.Write(Path.Combine(directory, "model.safetensors"), tensors);
        foreach (var t in tensors) t.Value.Dispose();
    }

    /// <summary>Logits [T, vocab] (float64) of <paramref name="ids"/> at positions 0..T-1, from the tensors in <paramref name="directory"/>.</summary>
    public Tensor Logits(string directory, IReadOnlyList<long> ids)
    {
        using var file = SafeTensorsFile.Open(Path.Combine(directory, "model.safetensors"));
        using var scope = NewDisposeScope();
        Tensor W(string name) => file.Read(name, ScalarType.Float64);
        int t = ids.Count;
        var x = W("model.embed_tokens.weight").index_select(0, tensor(ids.ToArray()));     // [T, H]
        var (cos, sin) = Rotary(t);
        for (int l = 0; l < Layers; l++)
        {
            var p = $"model.layers.{l}.";
            var h = RmsNorm(x, W(p + "input_layernorm.weight"));
            var q = Project(h, W(p + "self_attn.q_proj.weight"), QkvBias ? W(p + "self_attn.q_proj.bias") : null);
            var k = Project(h, W(p + "self_attn.k_proj.weight"), QkvBias ? W(p + "self_attn.k_proj.bias") : null);
            var v = Project(h, W(p + "self_attn.v_proj.weight"), QkvBias ? W(p + "self_attn.v_proj.bias") : null);
            var mask = Mask(t, Window(l));
            var heads = new List<Tensor>();
            for (int head = 0; head < Heads; head++)
            {
                int kvHead = head / (Heads / KvHeads);
                var qh = q.narrow(1, head * HeadDim, HeadDim);
                var kh = k.narrow(1, kvHead * HeadDim, HeadDim);
                var vh = v.narrow(1, kvHead * HeadDim, HeadDim);
                if (QkNorm)
                {
                    qh = RmsNorm(qh, W(p + "self_attn.q_norm.weight"));
                    kh = RmsNorm(kh, W(p + "self_attn.k_norm.weight"));
                }
                qh = Rotate(qh, cos, sin);
                kh = Rotate(kh, cos, sin);
                var scores = qh.matmul(kh.t()).MulScalar(1 / Math.Sqrt(HeadDim)).Plus(mask);
                heads.Add(scores.softmax(-1).matmul(vh));
            }
            var attention = Project(cat(heads, 1), W(p + "self_attn.o_proj.weight"), OutputBias ? W(p + "self_attn.o_proj.bias") : null);
            x = x.Plus(attention);
            var h2 = RmsNorm(x, W(p + "post_attention_layernorm.weight"));
            var gate = Project(h2, W(p + "mlp.gate_proj.weight"), null);
            var up = Project(h2, W(p + "mlp.up_proj.weight"), null);
            x = x.Plus(Project(gate * gate.sigmoid() * up, W(p + "mlp.down_proj.weight"), null));
        }
        x = RmsNorm(x, W("model.norm.weight"));
        var vocabulary = Tied ? W("model.embed_tokens.weight") : W("lm_head.weight");
        return x.matmul(vocabulary.t()).MoveToOuterDisposeScope();
    }

    /// <summary>Greedy continuation of <paramref name="prompt"/> by full recomputation (no cache).</summary>
    public List<long> Greedy(string directory, IReadOnlyList<long> prompt, int count)
    {
        var ids = prompt.ToList();
        for (int i = 0; i < count; i++)
        {
            using var logits = Logits(directory, ids);
            using var last = logits[logits.shape[0] - 1];
            using var best = last.argmax();
            ids.Add(best.item<long>());
        }
        return ids.Skip(prompt.Count).ToList();
    }

    Tensor RmsNorm(Tensor x, Tensor weight)
    {
        var meanSquare = (x * x).mean([-1], keepdim: true);
        return x * meanSquare.AddScalar(Eps).rsqrt() * weight;
    }

    static Tensor Project(Tensor x, Tensor weight, Tensor? bias)
    {
        var y = x.matmul(weight.t());
        return bias is null ? y : y.Plus(bias);
    }

    /// <summary>cos and sin [T, head_dim/2] of angle p / theta^(2i/d), from loops.</summary>
    (Tensor Cos, Tensor Sin) Rotary(int t)
    {
        int half = HeadDim / 2;
        var cos = new double[t * half];
        var sin = new double[t * half];
        for (int p = 0; p < t; p++)
            for (int i = 0; i < half; i++)
            {
                double angle = p / Math.Pow(Theta, 2.0 * i / HeadDim);
                cos[p * half + i] = Math.Cos(angle);
                sin[p * half + i] = Math.Sin(angle);
            }
        return (tensor(cos, [t, half]), tensor(sin, [t, half]));
    }

    /// <summary>(x1, x2) → (x1 cos − x2 sin, x2 cos + x1 sin), halves of the head.</summary>
    Tensor Rotate(Tensor x, Tensor cos, Tensor sin)
    {
        int half = HeadDim / 2;
        var x1 = x.narrow(1, 0, half);
        var x2 = x.narrow(1, half, half);
        return cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], 1);
    }

    /// <summary>0 where query t may attend key s (s ≤ t, and s > t − window), −∞ elsewhere.</summary>
    static Tensor Mask(int t, int? window)
    {
        var m = new double[t * t];
        for (int q = 0; q < t; q++)
            for (int s = 0; s < t; s++)
                m[q * t + s] = s <= q && (window is not int w || s > q - w) ? 0 : double.NegativeInfinity;
        return tensor(m, [t, t]);
    }
}
