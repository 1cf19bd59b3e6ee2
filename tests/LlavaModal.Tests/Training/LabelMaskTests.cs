using LlavaModal.Tests.Support;
using LlavaModal.Tokenizers;
using LlavaModal.Tokenizers.Chat;
using LlavaModal.Training.Data;

namespace LlavaModal.Tests.Training;

public class LabelMaskTests
{
    static readonly HfTokenizer Tokenizer = HfTokenizer.FromPretrained(Fixtures.LlavaTinyA);

    static LlavaSample TwoRounds => new("s1", "a.png",
    [
        new("human", "<image>\nWhat color is the circle?"),
        new("gpt", "red"),
        new("human", "How many objects are there?"),
        new("gpt", "2"),
    ]);

    [Fact]
    public void Only_the_assistant_replies_and_their_eos_are_supervised_token_by_token()
    {
        var e = new ConversationEncoder(Tokenizer, system: "Hi.").Encode(TwoRounds);
        // "<s> Hi. USER: <image>\nWhat color is the circle? ASSISTANT: red</s>USER: How many objects are there? ASSISTANT: 2</s>"
        int[] ids =
        [
            1, 371, 430, 378, 389, 371, 426, 404, 420, 425, 400, 371, 510, 13, 434, 381, 278, 270, 333, 289, 292, 263, 270, 343, 383, 298, 419,
            313, 404, 404, 406, 404, 395, 405, 432, 395, 400, 324, 382, 2,
            426, 404, 420, 425, 400, 371, 430, 311, 283, 284, 393, 280, 392, 412, 372, 350, 377, 367, 263, 266, 419,
            313, 404, 404, 406, 404, 395, 405, 432, 395, 400, 371, 398, 2,
        ];
        Assert.Equal(ids, e.Ids);
        var expected = Enumerable.Repeat(ConversationEncoder.IgnoreIndex, ids.Length).ToArray();
        expected[37] = 324; expected[38] = 382; expected[39] = 2;   // "▁re" "d" "</s>"
        expected[71] = 371; expected[72] = 398; expected[73] = 2;   // "▁" "2" "</s>"
        Assert.Equal(expected, e.Labels);
        Assert.Equal(ConversationEncoder.IgnoreIndex, e.Labels[Array.IndexOf(e.Ids, 510)]);
        Assert.Equal("red</s>", Tokenizer.Decode(e.Ids[37..40]));
    }

    [Fact]
    public void The_rendered_prompt_is_what_inference_renders()
    {
        var encoder = new ConversationEncoder(Tokenizer);
        var sample = new LlavaSample("q", null, [new("human", "Which shape is round?"), new("gpt", "circle")]);
        var inference = ChatTemplate.Named("vicuna_v1").Render([new ChatTurn(TurnRole.User, "Which shape is round?")]);
        Assert.Equal(inference + " circle</s>", encoder.Render(sample));
        var e = encoder.Encode(sample);
        Assert.Null(e.ImagePath);
        Assert.Equal(" circle</s>".Length > 0, e.SupervisedTokens > 0);
        Assert.Equal("circle</s>", Tokenizer.Decode(e.Ids.Where((_, i) => e.Labels[i] != ConversationEncoder.IgnoreIndex)));
    }

    [Fact]
    public void A_prefix_that_does_not_tokenise_as_a_prefix_is_refused()
    {
        Assert.True(ConversationEncoder.IsPrefix([1, 2], [1, 2, 3]));
        Assert.False(ConversationEncoder.IsPrefix([1, 4], [1, 2, 3]));
        Assert.False(ConversationEncoder.IsPrefix([1, 2, 3, 4], [1, 2, 3]));
    }

    [Fact]
    public void Data_files_are_read_and_malformed_samples_named()
    {
        using var dir = new TempDir();
        var path = dir.File("d.json");
        File.WriteAllText(path, """
            [ { "id": "a", "image": "x.png", "conversations": [ { "from": "human", "value": "<image>\nQ?" }, { "from": "gpt", "value": "A" }, { "from": "human", "value": "Q2?" }, { "from": "gpt", "value": "B" } ] },
              { "id": "b", "conversations": [ { "from": "human", "value": "Hello" }, { "from": "gpt", "value": "Hi" } ] } ]
            """);
        var samples = LlavaDataFile.Load(path);
        Assert.Equal(2, samples.Count);
        Assert.Equal(4, samples[0].Conversations.Count);
        Assert.Null(samples[1].Image);

        File.WriteAllText(path, """[ { "id": "c", "conversations": [ { "from": "gpt", "value": "x" } ] } ]""");
        var e = Assert.Throws<InvalidDataException>(() => LlavaDataFile.Load(path));
        Assert.Contains("id 'c'", e.Message);
        File.WriteAllText(path, """[ { "id": "d", "conversations": [ { "from": "human", "value": "<image>\nx" }, { "from": "gpt", "value": "y" } ] } ]""");
        Assert.Contains("no image", Assert.Throws<InvalidDataException>(() => LlavaDataFile.Load(path)).Message);
    }
}

public class SystemPromptOverrideTests
{
    [Fact]
    public void A_model_folder_can_replace_the_vicuna_system_sentence_and_training_renders_it_as_inference_does()
    {
        using var dir = new TempDir();
        LlavaModal.Training.Modeling.HfFolders.WriteTokenizer(dir.Path);
        Assert.StartsWith("A chat between", ChatTemplate.ForModel(dir.Path).Render([new ChatTurn(TurnRole.User, "q")]), StringComparison.Ordinal);
        LlavaModal.Training.Modeling.HfFolders.SetSystemPrompt(dir.Path, "Answer about the image.");
        var template = ChatTemplate.ForModel(dir.Path);
        Assert.Equal("vicuna_v1", template.Name);
        Assert.Equal("Answer about the image. USER: q ASSISTANT:", template.Render([new ChatTurn(TurnRole.User, "q")]));
        var encoder = new ConversationEncoder(HfTokenizer.FromPretrained(dir.Path), template: template);
        var sample = new LlavaSample("s", null, [new("human", "q"), new("gpt", "a")]);
        Assert.Equal("Answer about the image. USER: q ASSISTANT: a</s>", encoder.Render(sample));
    }
}
