using System.Text;
using System.Text.Json.Nodes;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Loading;
using LlavaModal.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Abstractions.Configuration;

/// <summary>
/// Seeded fuzzing of <c>config.json</c> against real weights (llama-tiny): every key set to hostile values (zero, negative,
/// beyond 32 bits, huge, fractional, strings, null, objects) or removed, plus raw byte edits. Every case is refused with a
/// <see cref="CheckpointException"/> (a <see cref="ConfigException"/> naming the key, or the strict tensor check) or
/// loads, and then gives finite logits; never a native allocation failure or a hang.
/// </summary>
public class ConfigFuzzTests(ITestOutputHelper output)
{
    static readonly JsonNode?[] HostileValues =
    [
        0, -1, 1, 2, 3, 7, 100000, int.MaxValue, 4294967360L, 1L << 40, 1e300, -1e-9, 0.5, "64", null, new JsonObject(), new JsonArray(1, 2), true,
    ];

    static byte[] MakeCase(Random random, int index, string original)
    {
        if (index % 4 == 3) return Fuzz.Mutate(random, Encoding.UTF8.GetBytes(original));
        var root = JsonNode.Parse(original)!.AsObject();
        var keys = root.Select(kv => kv.Key).Concat(["rope_scaling", "sliding_window", "head_dim"]).ToList();
        var key = keys[random.Next(keys.Count)];
        if (random.Next(8) == 0) root.Remove(key);
        else if (key == "rope_scaling" && random.Next(2) == 0)
            root[key] = new JsonObject { ["rope_type"] = new[] { "linear", "dynamic", "llama3" }[random.Next(3)], ["factor"] = HostileValues[random.Next(HostileValues.Length)]?.DeepClone(),
                ["low_freq_factor"] = 1, ["high_freq_factor"] = 4, ["original_max_position_embeddings"] = 2048 };
        else root[key] = HostileValues[random.Next(HostileValues.Length)]?.DeepClone();
        return Encoding.UTF8.GetBytes(root.ToJsonString());
    }

    [Fact]
    public void Mutated_configs_are_refused_naming_the_problem_or_load_and_give_finite_logits()
    {
        using var dir = new TempDir();
        foreach (var file in Directory.GetFiles(Fixtures.LlamaTiny)) File.Copy(file, dir.File(Path.GetFileName(file)));
        var original = File.ReadAllText(Path.Combine(Fixtures.LlamaTiny, "config.json"));
        var report = Fuzz.Run("config.json", seed: 15, cases: 200, TimeSpan.FromSeconds(20),
            (random, i) => MakeCase(random, i, original),
            bytes =>
            {
                File.WriteAllBytes(dir.File("config.json"), bytes);
                using var folder = ModelFolder.Open(dir.Path);
                using var decoder = folder.LoadDecoder(new ModelLoadOptions());
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var ids = tensor(new long[] { 1, 15, 27, 300 }).unsqueeze(0);
                var logits = decoder.Forward(decoder.Embed(ids), Scalars.Arange(0, 4).unsqueeze(0));
                Assert.True(logits.AllFinite(), "an accepted config produced non-finite logits");
            },
            output, typeof(CheckpointException));
        Assert.True(report.Counts.GetValueOrDefault("accepted") > 0, report.ToString());
        Assert.True(report.Counts.GetValueOrDefault(nameof(ConfigException)) > 50, report.ToString());
    }
}
