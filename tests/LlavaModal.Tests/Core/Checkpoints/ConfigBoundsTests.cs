using System.Text.Json.Nodes;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Loading;
using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.Core.Checkpoints;

/// <summary>
/// Issue 15, 3 and 5: config sizes were allocated before the checkpoint was checked against them (<c>num_hidden_layers</c>
/// 100000, <c>vocab_size</c> 2e9, <c>hidden_size</c> 2^30: native <c>bad_alloc</c> aborts, or requests for up to 2 TB),
/// and integers beyond 32 bits were truncated (<c>hidden_size</c> 4294967360 loaded as 64). Each is now a
/// <see cref="ConfigException"/> naming the key before anything is built.
/// </summary>
public class ConfigBoundsTests
{
    static TempDir CopyWith(string fixture, Action<JsonObject> edit)
    {
        var dir = new TempDir();
        foreach (var file in Directory.GetFiles(fixture)) File.Copy(file, dir.File(Path.GetFileName(file)));
        var config = JsonNode.Parse(File.ReadAllText(dir.File("config.json")))!.AsObject();
        edit(config);
        File.WriteAllText(dir.File("config.json"), config.ToJsonString());
        return dir;
    }

    [Theory]
    [InlineData("num_hidden_layers", 100000L)]
    [InlineData("vocab_size", 2000000000L)]
    [InlineData("hidden_size", 1073741824L)]
    [InlineData("intermediate_size", 1000000L)]
    [InlineData("num_key_value_heads", 100000L)]
    [InlineData("hidden_size", 4294967360L)]
    public void A_decoder_size_the_weights_cannot_hold_is_refused_naming_the_key(string key, long value)
    {
        using var dir = CopyWith(Fixtures.LlamaTiny, c => c[key] = value);
        long before = GC.GetTotalAllocatedBytes();
        var e = Assert.Throws<ConfigException>(() => MultimodalModel.Load(dir.Path, []).Dispose());
        Assert.Equal(key, e.Key);
        Assert.True(GC.GetTotalAllocatedBytes() - before < 200_000_000);
    }

    [Fact]
    public void The_text_config_of_a_llava_checkpoint_is_bounded_too()
    {
        using var dir = CopyWith(Fixtures.LlavaTinyA, c => c["text_config"]!["num_hidden_layers"] = 100000);
        Assert.Equal("text_config.num_hidden_layers", Assert.Throws<ConfigException>(() => MultimodalModel.Load(dir.Path).Dispose()).Key);
    }

    [Theory]
    [InlineData("image_size", 20160L)]
    [InlineData("hidden_size", 1048576L)]
    [InlineData("num_hidden_layers", 100000L)]
    public void A_vision_tower_size_the_weights_cannot_hold_is_refused_naming_the_key(string key, long value)
    {
        using var dir = CopyWith(Fixtures.LlavaTinyA, c => c["vision_config"]![key] = value);
        Assert.Equal("vision_config." + key, Assert.Throws<ConfigException>(() => MultimodalModel.Load(dir.Path).Dispose()).Key);
    }

    [Fact]
    public void Integers_beyond_32_bits_are_refused_not_truncated()
    {
        var json = JsonConfig.FromJson("""{"a": 4294967360, "b": -2147483649, "c": 2147483647, "d": 1e400}""");
        Assert.Contains("32-bit", Assert.Throws<ConfigException>(() => json.Int("a")).Message);
        Assert.Throws<ConfigException>(() => json.Int("b"));
        Assert.Equal(int.MaxValue, json.Int("c"));
        Assert.Equal(4294967360L, json.Long("a"));
        Assert.Throws<ConfigException>(() => json.Double("d"));
    }

    [Fact]
    public void The_real_checkpoints_still_load()
    {
        using var folder = ModelFolder.Open(Fixtures.LlavaTinyA);
        var (_, config) = folder.ReadDecoderConfig(BuiltInArchitectures.Catalog);
        Assert.Equal(64, config.HiddenSize);
    }
}
