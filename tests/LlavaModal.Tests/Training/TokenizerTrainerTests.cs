using LlavaModal.Cli.Toy;
using LlavaModal.Tests.Support;
using LlavaModal.Tokenizers;
using LlavaModal.Training.Data;
using LlavaModal.Training.Tokenization;
using Microsoft.ML.Tokenizers;

namespace LlavaModal.Tests.Training;

/// <summary>The SentencePiece BPE trainer the toy recipe uses for its language model's tokenizer.</summary>
public class TokenizerTrainerTests
{
    static readonly string[] Corpus =
    [
        "Answer about the image. USER: <image>\nWhat color is the circle? ASSISTANT: red</s>USER: How many objects are there? ASSISTANT: 2</s>",
        "Answer about the image. USER: <image>\nWhat shape is the purple object? ASSISTANT: triangle</s>",
        "Answer about the image. USER: <image>\nDescribe the image. ASSISTANT: 2 objects: a large red circle and a small purple triangle.</s>",
        "Answer about the image. USER: <image>\nWhat color is the square? ASSISTANT: purple</s>",
        "Answer about the image. USER: <image>\nWhat shape is the red object? ASSISTANT: circle</s>",
    ];

    static TrainedTokenizer Write(string dir) => SentencePieceBpeTrainer.WriteFolder(dir, Corpus);

    [Fact]
    public void Frequent_words_become_single_pieces_and_the_added_tokens_follow_the_pieces()
    {
        using var dir = new TempDir();
        var trained = Write(dir.Path);
        var tokenizer = HfTokenizer.FromPretrained(dir.Path);
        foreach (var word in new[] { "color", "shape", "circle", "purple", "red", "USER:" })
            Assert.Single(tokenizer.Encode(word, addSpecialTokens: false));
        Assert.Equal(trained.ImageTokenId, tokenizer.TokenToId("<image>"));
        Assert.Equal(trained.PadTokenId, tokenizer.TokenToId("<pad>"));
        Assert.Equal(trained.Pieces, trained.ImageTokenId);
        Assert.Equal(trained.VocabSize, tokenizer.VocabSize);
        Assert.Equal(trained.PadTokenId, tokenizer.PadTokenId);
        // A reply the corpus never had ("triangle" appears once, so it is not merged) still round-trips.
        var ids = tokenizer.Encode("What color is the triangle? It is blue.", addSpecialTokens: false);
        Assert.Equal("What color is the triangle? It is blue.", tokenizer.Decode(ids));
    }

    [Fact]
    public void Text_outside_the_corpus_falls_back_to_bytes_and_round_trips()
    {
        using var dir = new TempDir();
        Write(dir.Path);
        var tokenizer = HfTokenizer.FromPretrained(dir.Path);
        const string text = "Zürich ☃ 東京 — emoji 🙂 tabs\tand\nnewlines";
        var ids = tokenizer.Encode(text, addSpecialTokens: false);
        Assert.DoesNotContain(0, ids); // never <unk>
        Assert.Equal(text, tokenizer.Decode(ids));
    }

    [Fact]
    public void Microsoft_ML_Tokenizers_reads_the_written_model_and_encodes_the_same_ids()
    {
        using var dir = new TempDir();
        Write(dir.Path);
        var ours = HfTokenizer.FromPretrained(dir.Path);
        using var stream = File.OpenRead(Path.Combine(dir.Path, "tokenizer.model"));
        var reference = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
        foreach (var text in new[] { "What color is the circle?", "2 objects: a large red circle and a small purple triangle.", "How many sides does a hexagon have?", "Zürich 🙂" })
            Assert.Equal(reference.EncodeToIds(text), ours.Encode(text, addSpecialTokens: false));
    }

    [Fact]
    public void Training_is_deterministic_and_respects_the_vocabulary_limit()
    {
        using var a = new TempDir();
        using var b = new TempDir();
        Write(a.Path);
        Write(b.Path);
        Assert.Equal(File.ReadAllBytes(Path.Combine(a.Path, "tokenizer.model")), File.ReadAllBytes(Path.Combine(b.Path, "tokenizer.model")));
        var small = SentencePieceBpeTrainer.Train(Corpus, maxPieces: 300);
        Assert.Equal(300, small.Count);
        var error = Assert.Throws<ArgumentException>(() => SentencePieceBpeTrainer.Train(Corpus, maxPieces: 100));
        Assert.Contains("256 bytes", error.Message);
    }

    [Fact]
    public void The_curriculum_vocabulary_has_every_colour_shape_and_question_word_as_one_piece()
    {
        using var data = new TempDir();
        var output = Curriculum.Write(data.Path, 200, seed: 3);
        var corpus = output.Stage1.Concat(output.Stage2).SelectMany(s => s.Conversations).Select(c => c.Value.Replace(LlavaDataFile.ImagePlaceholder, ""));
        using var dir = new TempDir();
        SentencePieceBpeTrainer.WriteFolder(dir.Path, corpus);
        var tokenizer = HfTokenizer.FromPretrained(dir.Path);
        foreach (var word in SceneGenerator.Colors.Select(c => c.Name).Concat(["circle", "square", "triangle", "objects", "color", "shape"]))
            Assert.True(tokenizer.Encode(word, addSpecialTokens: false).Count == 1, $"'{word}' is {tokenizer.Encode(word, addSpecialTokens: false).Count} pieces");
    }
}
