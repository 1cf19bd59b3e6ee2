using LlavaModal.Core.Checkpoints;
using LlavaModal.Encoders.Vision.Clip;

namespace LlavaModal.Benchmarks.Gguf;

/// <summary>
/// Writes the vision tower and projector of a LLaVA-1.5 checkpoint folder (Hugging Face names) as the f32 multimodal
/// projector file (<c>mmproj</c>) of llama.cpp's <c>clip</c> loader (its <c>llava-cli</c>): CLIP keys, <c>v.*</c> tower
/// tensors and the <c>mm.0</c>/<c>mm.2</c> projector. Like llama.cpp's converter it writes every tower layer and no
/// post-layernorm; llama.cpp runs all but the last layer (the second-to-last layer's features, as llava-1.5 selects).
/// </summary>
static class ClipGgufExport
{
    /// <summary>Writes <paramref name="outPath"/> (which must not exist) from the LLaVA folder <paramref name="llavaDir"/>.</summary>
    public static void Write(string llavaDir, string outPath, ClipVisionConfig tower, int projectionWidth)
    {
        if (File.Exists(outPath)) throw new ArgumentException($"{outPath} exists; not overwriting it.");
        using var checkpoint = SafeTensorsCheckpoint.Open(llavaDir);
        var gguf = new GgufWriter();
        gguf.Add("general.architecture", "clip");
        gguf.Add("general.name", Path.GetFileName(Path.GetFullPath(llavaDir)));
        gguf.Add("general.description", "LlavaModal benchmark: random LLaVA-1.5-shaped tower and projector");
        gguf.Add("general.file_type", 0u); // all f32
        gguf.Add("clip.has_text_encoder", false);
        gguf.Add("clip.has_vision_encoder", true);
        gguf.Add("clip.has_llava_projector", true);
        gguf.Add("clip.projector_type", "mlp");
        gguf.Add("clip.use_gelu", tower.HiddenAct == "gelu"); // false: quick_gelu, as CLIP's
        gguf.Add("clip.vision.image_size", (uint)tower.ImageSize);
        gguf.Add("clip.vision.patch_size", (uint)tower.PatchSize);
        gguf.Add("clip.vision.embedding_length", (uint)tower.HiddenSize);
        gguf.Add("clip.vision.feed_forward_length", (uint)tower.IntermediateSize);
        gguf.Add("clip.vision.projection_dim", (uint)projectionWidth);
        gguf.Add("clip.vision.attention.head_count", (uint)tower.NumAttentionHeads);
        gguf.Add("clip.vision.attention.layer_norm_epsilon", (float)tower.LayerNormEps);
        gguf.Add("clip.vision.block_count", (uint)tower.NumHiddenLayers);
        gguf.Add("clip.vision.image_mean", [0.48145466f, 0.4578275f, 0.40821073f]);
        gguf.Add("clip.vision.image_std", [0.26862954f, 0.26130258f, 0.27577711f]);

        const string v = "vision_tower.vision_model.";
        void Add(string hf, string name) => LlamaGgufExport.AddTensor(gguf, checkpoint, hf, name, GgmlType.F32, rotaryHeads: null);
        Add(v + "embeddings.class_embedding", "v.class_embd");
        Add(v + "embeddings.patch_embedding.weight", "v.patch_embd.weight");
        Add(v + "embeddings.position_embedding.weight", "v.position_embd.weight");
        Add(v + "pre_layrnorm.weight", "v.pre_ln.weight");
        Add(v + "pre_layrnorm.bias", "v.pre_ln.bias");
        for (int i = 0; i < tower.NumHiddenLayers; i++)
        {
            string hf = $"{v}encoder.layers.{i}.", blk = $"v.blk.{i}.";
            // fc1 as ffn_down and fc2 as ffn_up: the names llama.cpp's converter gives them (its clip loader reads them so).
            foreach (var (from, to) in new[] { ("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k"), ("self_attn.v_proj", "attn_v"),
                ("self_attn.out_proj", "attn_out"), ("layer_norm1", "ln1"), ("layer_norm2", "ln2"), ("mlp.fc1", "ffn_down"), ("mlp.fc2", "ffn_up") })
            {
                Add($"{hf}{from}.weight", $"{blk}{to}.weight");
                Add($"{hf}{from}.bias", $"{blk}{to}.bias");
            }
        }
        foreach (var (from, to) in new[] { ("linear_1", "mm.0"), ("linear_2", "mm.2") })
        {
            Add($"multi_modal_projector.{from}.weight", $"{to}.weight");
            Add($"multi_modal_projector.{from}.bias", $"{to}.bias");
        }
        gguf.Write(outPath);
    }
}
