using LlavaModal.Cli;
using LlavaModal.Cli.Commands;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Decoder.Generation;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Loading;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Decoder;

public class CheckpointVariantsTests
{
    [Fact]
    public void Bf16_checkpoints_load_as_stored_or_converted_and_agree()
    {
        using var dir = new TempDir();
        InitCommand.Write(dir.Path, Presets.Llama["tiny"] with { TorchDType = ScalarType.BFloat16 }, seed: 1, maxShardBytes: 1L << 30);
        using (var f = SafeTensorsFile.Open(dir.File("model.safetensors")))
            Assert.Equal("BF16", f.Tensors["lm_head.weight"].DType);

        using var asStored = LanguageModel.Load(dir.Path);
        using var asFloat = LanguageModel.Load(dir.Path, new ModelLoadOptions { DType = ScalarType.Float32 });
        Assert.Equal(ScalarType.BFloat16, asStored.Decoder.DType);
        Assert.Equal(ScalarType.Float32, asFloat.Decoder.DType);
        var ids = asStored.Tokenizer.Encode("Hello world, this is a test.");
        using var a = asStored.PromptLogits(ids);
        using var b = asFloat.PromptLogits(ids);
        Assert.True(Parity.RelativeError(a, b) < 2e-2, "bf16 and f32 computations of the same weights should agree to bf16 precision");
        Assert.Equal(4, asStored.Generate("Hello", new GenerationOptions { MaxNewTokens = 4 }).GeneratedIds.Count);
    }

    [Fact]
    public void Tied_embeddings_need_no_lm_head_tensor()
    {
        using var dir = new TempDir();
        var config = Presets.Llama["tiny"] with { TieWordEmbeddings = true };
        InitCommand.Write(dir.Path, config, seed: 2, maxShardBytes: 1L << 30);
        using var checkpoint = SafeTensorsCheckpoint.Open(dir.Path);
        Assert.False(checkpoint.Contains("lm_head.weight"));
        using var folder = ModelFolder.Open(dir.Path);
        using var model = folder.LoadDecoder();
        using var _ = no_grad();
        using var ids = tensor(new long[] { 1, 5, 9 }).unsqueeze(0);
        using var logits = model.Forward(model.Embed(ids), arange(3).unsqueeze(0));
        Assert.Equal(new long[] { 1, 3, config.VocabSize }, logits.shape);
    }

    [Theory]
    [InlineData("tiny", 0.2e6, 0.4e6)]
    [InlineData("100m", 95e6, 110e6)]
    [InlineData("1b", 1.0e9, 1.2e9)]
    [InlineData("llama-7b", 6.6e9, 6.8e9)]
    public void Presets_have_their_advertised_sizes(string preset, double min, double max)
    {
        Assert.InRange(InitCommand.Parameters(Presets.Llama[preset]), (long)min, (long)max);
    }
}

public class UndecodableRowsTests
{
    [Fact]
    public void Embedding_rows_beyond_the_tokenizer_are_never_generated()
    {
        using var dir = new TempDir();
        // The tiny preset has 512 embedding rows for the repository's 510-token tokenizer.
        InitCommand.Write(dir.Path, Presets.Llama["tiny"], seed: 4, maxShardBytes: 1L << 30);
        using var lm = LanguageModel.Load(dir.Path);
        Assert.Equal(510, lm.Tokenizer.VocabSize);
        using (no_grad())
        {
            // Make the two rows the tokenizer cannot decode the most likely by far.
            var head = lm.Decoder.named_parameters().Single(p => p.name == "lm_head.weight").parameter;
            using var rows = head.narrow(0, 510, 2);
            var norm = lm.Decoder.named_parameters().Single(p => p.name == "model.norm.weight").parameter;
            rows.copy_(full(2, head.shape[1], 50f));
            norm.fill_(1f);
        }
        var greedy = lm.Generate("Hello", new GenerationOptions { MaxNewTokens = 10 });
        var sampled = lm.Generate("Hello", new GenerationOptions { MaxNewTokens = 10, Temperature = 1f, Seed = 1 });
        Assert.All(greedy.GeneratedIds.Concat(sampled.GeneratedIds), id => Assert.InRange(id, 0, 509));
    }
}
