using System.Text.Json;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Modules;
using LlavaModal.Decoder.Generation;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Multimodal;

// A decoder family and a vision tower that exist only in this test assembly, written against LlavaModal.Abstractions
// alone (plus Core's layers for convenience), registered through DI, and loaded from a folder whose config names them.

/// <summary>The made-up decoder's config: one attention layer, grouped-query, three position axes (as M-RoPE has).</summary>
public sealed record TinyLmConfig : IDecoderConfig
{
    public string ModelType => "tiny_lm";
    public int VocabSize { get; init; } = 512;
    public int HiddenSize { get; init; } = 16;
    public int NumHiddenLayers => 1;
    public int NumAttentionHeads => 2;
    public int NumKeyValueHeads => 1;
    public int HeadDim => 8;
    public int MaxPositionEmbeddings { get; init; } = 64;
    public bool TieWordEmbeddings => false;
    public int? BosTokenId => 1;
    public IReadOnlyList<int> EosTokenIds => [2];
    public int? PadTokenId => 511;
    public ScalarType TorchDType => ScalarType.Float32;
    public int PositionDimensions => 3;

    public Dictionary<string, object?> ToJsonObject() => new() { ["model_type"] = ModelType, ["vocab_size"] = VocabSize, ["hidden_size"] = HiddenSize };
}

/// <summary>
/// <c>x + o(attn(q, k, v))</c> then a vocabulary head, with a rotation of q and k by the sum of the three position axes,
/// so positions, the cache and grouped-query attention all matter to the logits.
/// </summary>
public sealed class TinyLm : CausalLanguageModel
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly Embedding embed_tokens;
    readonly nn.Module<Tensor, Tensor> q_proj, k_proj, v_proj, o_proj, lm_head;
#pragma warning restore IDE1006
    readonly IAttentionKernel kernel;

    public TinyLm(TinyLmConfig c, ModelBuildContext build) : base(nameof(TinyLm), c, build.DType, build.Device)
    {
        kernel = build.Attention;
        embed_tokens = nn.Embedding(c.VocabSize, c.HiddenSize, dtype: build.DType, device: build.Device);
        q_proj = build.Linear.Create(new LinearSpec("q_proj", c.HiddenSize, c.NumAttentionHeads * c.HeadDim, Bias: false), build.DType, build.Device);
        k_proj = build.Linear.Create(new LinearSpec("k_proj", c.HiddenSize, c.NumKeyValueHeads * c.HeadDim, Bias: false), build.DType, build.Device);
        v_proj = build.Linear.Create(new LinearSpec("v_proj", c.HiddenSize, c.NumKeyValueHeads * c.HeadDim, Bias: false), build.DType, build.Device);
        o_proj = build.Linear.Create(new LinearSpec("o_proj", c.NumAttentionHeads * c.HeadDim, c.HiddenSize, Bias: false), build.DType, build.Device);
        lm_head = build.Linear.Create(new LinearSpec("lm_head", c.HiddenSize, c.VocabSize, Bias: false), build.DType, build.Device);
        RegisterComponents();
    }

    /// <summary>Every position tensor the model was given, for the test to inspect.</summary>
    public List<long[]> SeenPositionShapes { get; } = [];

    public override Tensor Embed(Tensor inputIds) => embed_tokens.forward(inputIds);

    public override Tensor Forward(Tensor inputsEmbeds, Tensor positionIds, Tensor? padding = null, IKvCache? cache = null, bool lastOnly = false, List<Tensor>? hiddenStates = null)
    {
        SeenPositionShapes.Add(positionIds.shape);
        using var scope = NewDisposeScope();
        long b = inputsEmbeds.shape[0], t = inputsEmbeds.shape[1], past = cache?.Length ?? 0;
        var angle = positionIds.sum(dim: 0).to(ScalarType.Float32).unsqueeze(1).unsqueeze(-1) * 0.1;   // [B, 1, T, 1]
        Tensor Rotate(Tensor x) => x * angle.cos() + x.flip(-1) * angle.sin();
        var q = Rotate(q_proj.forward(inputsEmbeds).view(b, t, 2, 8).transpose(1, 2));
        var k = Rotate(k_proj.forward(inputsEmbeds).view(b, t, 1, 8).transpose(1, 2));
        var v = v_proj.forward(inputsEmbeds).view(b, t, 1, 8).transpose(1, 2);
        if (cache is not null) (k, v) = cache.Append(0, k, v);
        var mask = AttentionMask.Build(padding, b, past, t, null, inputsEmbeds.dtype, inputsEmbeds.device);
        var attended = kernel.Attend(q, k, v, mask, 1 / Math.Sqrt(8)).transpose(1, 2).reshape(b, t, 16);
        var h = inputsEmbeds + o_proj.forward(attended);
        cache?.Advance(t);
        if (lastOnly) h = h.narrow(1, t - 1, 1);
        return lm_head.forward(h).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    public override IBatchKvCache CreateCache(int rows, long capacity) => new KvCache(Config, rows, capacity, DType, Device);
}

/// <summary>The decoder's registration: <c>model_type</c> <c>tiny_lm</c>; its tensors sit at <c>model.*</c> like any Hugging Face decoder's.</summary>
public sealed class TinyLmFamily : IDecoderFamily
{
    public IReadOnlyList<string> ModelTypes { get; } = ["tiny_lm"];

    public IDecoderConfig ReadConfig(JsonConfig json, bool nested) =>
        new TinyLmConfig { VocabSize = json.Int("vocab_size"), HiddenSize = json.Int("hidden_size"), MaxPositionEmbeddings = json.Int("max_position_embeddings", 64) };

    public CausalLanguageModel Create(IDecoderConfig config, ModelBuildContext build) => new TinyLm((TinyLmConfig)config, build);

    public string ProbeTensor => "embed_tokens.weight";
}

/// <summary>The made-up tower: 4x4-pixel patches of an 8x8 image, each flattened and projected (4 tokens per image).</summary>
public sealed class TinyVision : VisionTower
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly nn.Module<Tensor, Tensor> patch;
#pragma warning restore IDE1006

    public TinyVision(FeatureSelection selection, ModelBuildContext build) : base(nameof(TinyVision), selection, build.DType, build.Device)
    {
        patch = build.Linear.Create(new LinearSpec("patch", 3 * 4 * 4, 12, Bias: true), build.DType, build.Device);
        RegisterComponents();
    }

    public override string ModelType => "tiny_vision";
    public override int ImageSize => 8;
    public override int NumChannels => 3;
    public override int OutputWidth => 12;
    public override int TokenCount => 4;

    public override Tensor Features(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        long b = pixelValues.shape[0];
        var patches = pixelValues.view(b, 3, 2, 4, 2, 4).permute(0, 2, 4, 1, 3, 5).reshape(b, 4, 48);
        return patch.forward(patches.to(DType)).MoveToOuterDisposeScope();
    }

    public override Dictionary<string, object?> ToJsonObject() => new() { ["model_type"] = ModelType };
}

/// <summary>The tower's registration: <c>vision_config.model_type</c> <c>tiny_vision</c>.</summary>
public sealed class TinyVisionFamily : IVisionTowerFamily
{
    public IReadOnlyList<string> ModelTypes { get; } = ["tiny_vision"];

    public string ProbeTensor => "patch.weight";

    public VisionTower Load(JsonConfig config, FeatureSelection selection, IWeightSource? weights, string prefix, ModelBuildContext build)
    {
        var tower = new TinyVision(selection, build);
        if (weights is not null) StateDictLoader.Load(tower, weights, prefix);
        tower.eval();
        return tower;
    }
}

public class NewArchitectureTests
{
    /// <summary>A LLaVA-layout folder whose config names the two made-up parts, with random weights and the fixture's tokenizer.</summary>
    static void WriteFolder(string dir)
    {
        var config = new TinyLmConfig();
        manual_seed(7);
        using var lm = new TinyLm(config, TestBuild.Float32);
        using var tower = new TinyVision(FeatureSelection.Default, TestBuild.Float32);
        using var projector = Projectors.Create("mlp2x_gelu", 12, config.HiddenSize);
        var tensors = lm.named_parameters().Select(p => KeyValuePair.Create("language_model." + p.name, p.parameter.detach()))
            .Concat(tower.named_parameters().Select(p => KeyValuePair.Create("vision_tower." + p.name, p.parameter.detach())))
            .Concat(projector.named_parameters().Select(p => KeyValuePair.Create("multi_modal_projector." + p.name, p.parameter.detach())));
        SafeTensorsWriter.Write(Path.Combine(dir, "model.safetensors"), tensors.ToList());
        File.WriteAllText(Path.Combine(dir, "config.json"), JsonSerializer.Serialize(new
        {
            model_type = "tiny_llava",
            image_token_index = 510,
            text_config = new { model_type = "tiny_lm", vocab_size = 512, hidden_size = 16 },
            vision_config = new { model_type = "tiny_vision", num_hidden_layers = 2 },
        }));
        foreach (var name in new[] { "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "generation_config.json" })
            File.Copy(Path.Combine(Fixtures.LlavaTinyA, name), Path.Combine(dir, name));
        File.WriteAllText(Path.Combine(dir, "preprocessor_config.json"), File.ReadAllText(Path.Combine(Fixtures.LlavaTinyA, "preprocessor_config.json"))
            .Replace("336", "8", StringComparison.Ordinal));
    }

    [Fact]
    public void A_decoder_family_and_a_vision_tower_registered_through_DI_load_from_a_folder_that_names_them_and_generate()
    {
        using var dir = new TempDir();
        WriteFolder(dir.Path);
        var services = new ServiceCollection();
        // The tiny family claims 64 positions; the chat template's system sentence alone takes more, so the limit is raised.
        services.AddLlavaModal(o => { o.ModelDirectory = dir.Path; o.MaxContextTokens = 256; }).AddDecoderFamily(new TinyLmFamily()).AddVisionTower(new TinyVisionFamily());
        using var provider = services.BuildServiceProvider();
        var model = provider.GetRequiredService<MultimodalModel>();

        var decoder = Assert.IsType<TinyLm>(model.Decoder);
        var binding = Assert.Single(model.Modalities);
        Assert.IsType<TinyVision>(Assert.IsType<LlavaImageEncoder>(binding.Encoder).Tower);

        var prompt = model.RenderChat([new(Tokenizers.Chat.TurnRole.User, "What is this?")], [LlavaTinyFixture.ImageFile("img2")]);
        var (logits, ids, spans) = model.PromptLogits(prompt);
        var span = Assert.Single(spans);
        Assert.Equal(4, span.Length);
        Assert.Equal(ids.Count - 1 + 4, logits.shape[0]);

        decoder.SeenPositionShapes.Clear();
        var result = model.Generate(prompt, new GenerationOptions { MaxNewTokens = 6 });
        Assert.Equal(ids.Count - 1 + 4, result.PromptTokens);
        // Three position axes reach the family as [axes, B, T]: the prompt once, then one position per step.
        Assert.Equal(new long[] { 3, 1, result.PromptTokens }, decoder.SeenPositionShapes[0]);
        Assert.All(decoder.SeenPositionShapes.Skip(1), s => Assert.Equal(new long[] { 3, 1, 1 }, s));

        // The engine's cached decoding equals greedy decoding by full forwards over the growing sequence.
        var embeds = model.InputsEmbeds(prompt);
        var expected = new List<int>();
        using (no_grad())
        {
            for (int step = 0; step < 6; step++)
            {
                using var scope = NewDisposeScope();
                long t = embeds.shape[0];
                var positions = arange(t).unsqueeze(0).unsqueeze(0).expand(3, 1, t);
                int next = (int)decoder.Forward(embeds.unsqueeze(0), positions)[0, -1].argmax().item<long>();
                expected.Add(next);
                var grown = cat([embeds, decoder.Embed(tensor(new long[] { next }))], 0);
                embeds.Dispose();
                embeds = grown.DetachFromDisposeScope();
            }
        }
        embeds.Dispose();
        // Random weights may end on the end-of-sequence id (2) early; the engine stops there.
        int eos = expected.IndexOf(2);
        Assert.Equal(eos < 0 ? expected : expected.Take(eos + 1), result.GeneratedIds);
        Assert.Equal(eos < 0 ? FinishReason.Length : FinishReason.Stop, result.FinishReason);
        logits.Dispose();
    }

    [Fact]
    public void Without_the_registration_the_folder_is_refused_naming_the_key_and_the_registered_families()
    {
        using var dir = new TempDir();
        WriteFolder(dir.Path);
        var e = Assert.Throws<ConfigException>(() => MultimodalModel.Load(dir.Path));
        Assert.Equal("text_config.model_type", e.Key);
        Assert.Contains("'tiny_lm' is not a registered decoder family", e.Message);
        Assert.Contains("llama", e.Message);
    }
}
