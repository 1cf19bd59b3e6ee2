using System.Text.Json.Nodes;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Decoder.Generation;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tests.Support;
using LlavaModal.Tokenizers.Chat;
using Microsoft.Extensions.DependencyInjection;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Multimodal;

/// <summary>What a test plugin does wrong.</summary>
public enum Fault { NanFeatures, NanValues, ThrowsInPrepare, ThrowsInEncode }

/// <summary>A plugin that misbehaves as told, to check the model names it and the input instead of failing obscurely.</summary>
public sealed class FaultyEncoder(Fault fault) : IModalityEncoder
{
    public string Modality => "probe";
    public string Placeholder => "<probe>";
    public IReadOnlyList<string> MediaTypes { get; } = ["application/x-probe"];
    public int OutputWidth => 64;
    public int? FixedTokenCount => 2;
    public bool Accepts(ModalityInput input) => true;

    public PreparedInput Prepare(ModalityInput input)
    {
        if (fault == Fault.ThrowsInPrepare) throw new InvalidOperationException("probe prepare exploded");
        var values = fault == Fault.NanValues ? full(2, 64, float.NaN) : ones(2, 64);
        return new PreparedInput(values, 2, input.Describe());
    }

    public Tensor Encode(PreparedInput input, Device device)
    {
        if (fault == Fault.ThrowsInEncode) throw new IndexOutOfRangeException("probe encode exploded");
        return fault == Fault.NanFeatures ? full(2, 64, float.NaN) : input.Values.clone();
    }

    public void Dispose() { }
}

/// <summary>
/// Issue 15, 3, 4, 5 and 7, at the model: prompts were never checked against the context (a 200000-character prompt asked
/// for 40 GB, chat histories grew past it silently, a 65 s clip became 4500 positions on a 2048 context); a huge
/// max_new_tokens sized the KV cache (2^31 took > 6 GB); token ids outside the vocabulary, NaN plugin output,
/// infinite sampling settings and ids outside the vocabulary in configs went through or crashed untyped; a plugin's own
/// exception reached the caller unwrapped.
/// </summary>
public class HostileRequestTests
{
    static TempDir CopyOf(string fixture)
    {
        var dir = new TempDir();
        foreach (var file in Directory.GetFiles(fixture)) File.Copy(file, dir.File(Path.GetFileName(file)));
        return dir;
    }

    static void EditJson(string path, Action<JsonObject> edit)
    {
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
    }

    [Fact]
    public void A_prompt_longer_than_the_context_is_refused_before_anything_is_encoded_naming_the_limit()
    {
        using var model = MultimodalModel.Load(Fixtures.LlamaTiny, []);
        var text = string.Concat(Enumerable.Repeat("word ", 40_000)); // 200000 characters
        long before = GC.GetTotalAllocatedBytes();
        var e = Assert.Throws<InputLimitException>(() => model.Generate(new MultimodalPrompt(text, [])));
        Assert.True(GC.GetTotalAllocatedBytes() - before < 500_000_000, "the prompt was encoded");
        Assert.Equal(nameof(ModelLimits.MaxContextTokens), e.Limit);
        Assert.Equal(2047, e.Maximum);
        Assert.Contains("max_position_embeddings 2048", e.Message);
        Assert.Contains("--max-context-tokens", e.Message);
        Assert.Throws<InputLimitException>(() => model.PromptLogits(new MultimodalPrompt(text, [])));
    }

    [Fact]
    public void A_chat_history_that_outgrows_the_context_is_refused_not_cut_silently()
    {
        using var model = MultimodalModel.Load(Fixtures.LlamaTiny, [], new ModelLoadOptions { Limits = new ModelLimits { MaxContextTokens = 64 } });
        var turns = new List<ChatTurn>();
        for (int i = 0; i < 20; i++)
        {
            turns.Add(new ChatTurn(TurnRole.User, "Tell me more about the weather today."));
            try { turns.Add(new ChatTurn(TurnRole.Assistant, model.Chat(turns, options: new GenerationOptions { MaxNewTokens = 4 }).Text)); }
            catch (InputLimitException e)
            {
                Assert.Equal(63, e.Maximum);
                return;
            }
        }
        Assert.Fail("the history outgrew a 64-position context without an error");
    }

    [Fact]
    public void Max_new_tokens_never_sizes_the_cache_past_the_context()
    {
        using var model = MultimodalModel.Load(Fixtures.LlamaTiny, [], new ModelLoadOptions { Limits = new ModelLimits { MaxContextTokens = 40 } });
        long before = GC.GetTotalAllocatedBytes();
        var result = model.Generate(new MultimodalPrompt("The capital of France is", []), new GenerationOptions { MaxNewTokens = int.MaxValue, StopTokenIds = [] });
        Assert.True(result.PromptTokens + result.CompletionTokens <= 40, $"{result.PromptTokens} + {result.CompletionTokens}");
        Assert.True(GC.GetTotalAllocatedBytes() - before < 200_000_000);
    }

    [Fact]
    public void The_default_context_of_a_config_claiming_billions_of_positions_is_capped()
    {
        using var dir = CopyOf(Fixtures.LlamaTiny);
        EditJson(dir.File("config.json"), c => c["max_position_embeddings"] = int.MaxValue);
        using var model = MultimodalModel.Load(dir.Path, []);
        Assert.Equal(ModelLimits.DefaultContextCap, model.ContextTokens);
    }

    [Fact]
    public void Sampling_settings_that_are_infinite_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new GenerationOptions { Temperature = float.PositiveInfinity }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new GenerationOptions { RepetitionPenalty = float.PositiveInfinity }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new GenerationOptions { Temperature = float.NaN }.Validate());
    }

    [Fact]
    public void Ids_outside_the_vocabulary_are_typed_errors()
    {
        using var model = MultimodalModel.Load(Fixtures.LlamaTiny, []);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => model.PromptLogits([1, 5, 510]));
        Assert.Contains("index 2", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.PromptLogits([-1]));
    }

    [Fact]
    public void A_tokenizer_larger_than_the_embedding_table_is_a_typed_error_naming_the_token()
    {
        using var dir = CopyOf(Fixtures.LlamaTiny);
        EditJson(dir.File("tokenizer_config.json"), c => c["added_tokens_decoder"]!["510"] = new JsonObject
        {
            ["content"] = "<extra>", ["lstrip"] = false, ["rstrip"] = false, ["single_word"] = false, ["normalized"] = false, ["special"] = true,
        });
        using var model = MultimodalModel.Load(dir.Path, []);
        var e = Assert.ThrowsAny<LlavaModalException>(() => model.Generate(new MultimodalPrompt("Hello <extra> world", [])));
        Assert.Contains("token 510 ('<extra>')", e.Message);
        Assert.Contains("vocabulary of 510", e.Message);
    }

    [Theory]
    [InlineData("generation_config.json", "pad_token_id", 600)]
    [InlineData("generation_config.json", "eos_token_id", 510)]
    [InlineData("config.json", "eos_token_id", -3)]
    [InlineData("config.json", "bos_token_id", 9999)]
    public void Special_ids_outside_the_vocabulary_are_refused_at_load_naming_the_file_and_key(string file, string key, int value)
    {
        using var dir = CopyOf(Fixtures.LlamaTiny);
        if (file == "config.json") File.Delete(dir.File("generation_config.json"));
        EditJson(dir.File(file), c => c[key] = value);
        var e = Assert.Throws<ConfigException>(() => MultimodalModel.Load(dir.Path, []).Dispose());
        Assert.EndsWith(key, e.Key);
        Assert.EndsWith(file, e.Path);
    }

    static MultimodalModel WithProbe(Fault fault, out ServiceProvider provider)
    {
        var services = new ServiceCollection();
        services.AddSingleton(new FaultyEncoder(fault));
        services.AddLlavaModal(o => o.ModelDirectory = Fixtures.LlavaTinyA).AddModalityEncoder<FaultyEncoder>("identity");
        provider = services.BuildServiceProvider();
        return provider.GetRequiredService<MultimodalModel>();
    }

    static MultimodalPrompt ProbePrompt => new("USER: <probe>\nWhat is it? ASSISTANT:", [new ModalityInput(new byte[] { 1, 2, 3 }, "application/x-probe", "sensor-7")]);

    [Theory]
    [InlineData(Fault.NanFeatures, "NaN")]
    [InlineData(Fault.NanValues, "NaN")]
    public void NaN_from_a_plugin_is_refused_naming_the_input(Fault fault, string expected)
    {
        var model = WithProbe(fault, out var provider);
        using (provider)
        {
            var e = Assert.ThrowsAny<LlavaModalException>(() => model.Generate(ProbePrompt, new GenerationOptions { MaxNewTokens = 2 }));
            Assert.Contains(expected, e.Message);
            Assert.StartsWith("sensor-7", e.Message);
        }
    }

    [Theory]
    [InlineData(Fault.ThrowsInPrepare, typeof(InvalidOperationException))]
    [InlineData(Fault.ThrowsInEncode, typeof(IndexOutOfRangeException))]
    public void A_plugin_exception_is_wrapped_naming_the_plugin_and_the_input(Fault fault, Type original)
    {
        var model = WithProbe(fault, out var provider);
        using (provider)
        {
            var e = Assert.ThrowsAny<LlavaModalException>(() => model.Generate(ProbePrompt, new GenerationOptions { MaxNewTokens = 2 }));
            Assert.IsType(original, e.InnerException);
            Assert.Contains(nameof(FaultyEncoder), e.Message);
            Assert.StartsWith("sensor-7", e.Message);
            // The model is still usable afterwards.
            Assert.NotEmpty(model.Generate(new MultimodalPrompt("USER: Hi ASSISTANT:", []), new GenerationOptions { MaxNewTokens = 2 }).GeneratedIds);
        }
    }
}
