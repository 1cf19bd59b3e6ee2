using LlavaModal.Multimodal.Loading;
using LlavaModal.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Decoder;

/// <summary>
/// Sliding-window attention of hand-made Mistral and Qwen2 checkpoints against <see cref="ReferenceDecoder"/> on a sequence
/// longer than the window: Mistral windows every layer; Qwen2 only when <c>use_sliding_window</c> is set, from layer
/// <c>max_window_layers</c> on (or where <c>layer_types</c> says <c>sliding_attention</c>).
/// </summary>
public class SlidingWindowTests(ITestOutputHelper output)
{
    internal const int Window = 4;
    static readonly long[] Ids = [5, 17, 33, 2, 60, 41, 8, 19, 27, 50, 3, 44, 12, 38];

    internal static ReferenceDecoder Shape(bool qwen2) => new()
    {
        Vocab = 64, Hidden = 32, Intermediate = 48, Layers = 3, Heads = 4, KvHeads = 2, HeadDim = 8, Eps = 1e-5, Theta = 10000, QkvBias = qwen2,
    };

    internal static string Config(string modelType, string extra) => $$"""
        {"model_type": "{{modelType}}", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 3,
         "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 64,
         "tie_word_embeddings": false, "torch_dtype": "float32", "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2{{extra}}}
        """;

    public static TheoryData<string, string, string> Cases => new()
    {
        // name, model_type, extra config keys; the windowed layers are named in WindowedLayers.
        { "mistral", "mistral", $", \"sliding_window\": {Window}" },
        { "qwen2 from max_window_layers", "qwen2", $", \"use_sliding_window\": true, \"sliding_window\": {Window}, \"max_window_layers\": 1" },
        { "qwen2 layer_types", "qwen2", $", \"use_sliding_window\": true, \"sliding_window\": {Window}, \"max_window_layers\": 1, \"layer_types\": [\"sliding_attention\", \"full_attention\", \"sliding_attention\"]" },
        { "qwen2 window off", "qwen2", $", \"use_sliding_window\": false, \"sliding_window\": {Window}, \"max_window_layers\": 0" },
    };

    static int[] WindowedLayers(string name) => name switch
    {
        "mistral" => [0, 1, 2],
        "qwen2 from max_window_layers" => [1, 2],
        "qwen2 layer_types" => [0, 2],
        _ => [],
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Logits_over_a_sequence_longer_than_the_window_follow_the_reference(string name, string modelType, string extra)
    {
        using var dir = new TempDir();
        var windowed = WindowedLayers(name);
        var reference = Shape(modelType == "qwen2") with { Window = l => windowed.Contains(l) ? Window : null };
        reference.WriteCheckpoint(dir.Path, Config(modelType, extra), seed: 11);
        using var folder = ModelFolder.Open(dir.Path);
        using var decoder = folder.LoadDecoder();
        Assert.Equal(modelType, decoder.Config.ModelType);

        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = tensor(Ids).unsqueeze(0);
        var ours = decoder.Forward(decoder.Embed(ids), arange(Ids.Length).unsqueeze(0))[0];
        var expected = reference.Logits(dir.Path, Ids);
        output.WriteLine($"{name}: relative error {Parity.RelativeError(ours, expected.to(ScalarType.Float32)):E2}");
        Parity.AssertClose(ours, expected.to(ScalarType.Float32), 1e-4, name);

        // The window matters past its width and only there: full attention gives the same first positions, other later ones.
        var full = (reference with { Window = _ => null }).Logits(dir.Path, Ids).to(ScalarType.Float32);
        Parity.AssertClose(ours.narrow(0, 0, Window), full.narrow(0, 0, Window), 1e-4, $"{name} inside the window");
        double later = Parity.RelativeError(ours.narrow(0, Window, Ids.Length - Window), full.narrow(0, Window, Ids.Length - Window));
        if (windowed.Length > 0) Assert.True(later > 1e-3, $"{name}: the window changed nothing ({later:E2})");
        else Assert.True(later < 1e-4, $"{name}: a window was applied ({later:E2})");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Cached_decoding_past_the_window_equals_the_full_forward(string name, string modelType, string extra)
    {
        using var dir = new TempDir();
        var windowed = WindowedLayers(name);
        (Shape(modelType == "qwen2") with { Window = l => windowed.Contains(l) ? Window : null }).WriteCheckpoint(dir.Path, Config(modelType, extra), seed: 12);
        using var folder = ModelFolder.Open(dir.Path);
        using var decoder = folder.LoadDecoder();

        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = tensor(Ids).unsqueeze(0);
        long t = Ids.Length, prefix = 3;
        var full = decoder.Forward(decoder.Embed(ids), arange(t).unsqueeze(0));
        using var rows = decoder.CreateCache(1, t);
        using var cache = rows.Prefill(0);
        var steps = new List<Tensor> { decoder.Forward(decoder.Embed(ids.narrow(1, 0, prefix)), arange(prefix).unsqueeze(0), cache: cache) };
        for (long p = prefix; p < t; p++)
            steps.Add(decoder.Forward(decoder.Embed(ids.narrow(1, p, 1)), tensor(new[] { p }).unsqueeze(0), cache: cache));
        Parity.AssertClose(cat(steps, 1), full, 1e-5, $"{name}: cached vs full");
    }
}
