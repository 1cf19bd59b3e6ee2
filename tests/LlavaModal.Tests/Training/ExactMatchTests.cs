using LlavaModal.Multimodal.Prompts;
using LlavaModal.Training.Evaluation;

namespace LlavaModal.Tests.Training;

public class ExactMatchTests
{
    static EvalQuestion Q(string type, int group, string answer) => new(type, group, new MultimodalPrompt("prompt", []), $"{type}?", answer);

    [Fact]
    public void Scores_whole_replies_per_type_and_group_against_the_majority_answer()
    {
        EvalQuestion[] questions =
        [
            Q("count", 1, "There are 1 objects."), Q("count", 2, "There are 2 objects."), Q("count", 2, "There are 2 objects."),
            Q("color", 1, "It is red."), Q("color", 1, "It is blue."),
        ];
        string[] replies = ["  there are 1 objects ", "There are 3 objects.", "There are 2 objects.", "It is red.", "It is red."];

        var result = ExactMatch.Score(questions, replies);

        Assert.Equal(3.0 / 5, result.Overall, 12);
        Assert.Equal(["count", "color"], result.ByType.Keys);
        Assert.Equal(2.0 / 3, result.ByType["count"], 12);
        Assert.Equal(0.5, result.ByType["color"], 12);
        Assert.Equal(1.0, result.ByGroup["count"][1]);
        Assert.Equal(0.5, result.ByGroup["count"][2]);
        // Always answering "2 objects" and "red" (or "blue") would score 2 + 1 of 5.
        Assert.Equal(3.0 / 5, result.MajorityBaseline, 12);
        Assert.Equal([("count?", "There are 2 objects.", "there are 3 objects"), ("color?", "It is blue.", "it is red")], result.Mistakes);
    }

    [Fact]
    public void Refuses_replies_that_do_not_match_the_questions()
    {
        Assert.Throws<ArgumentException>(() => ExactMatch.Score([Q("count", 1, "1")], []));
        Assert.Throws<ArgumentException>(() => ExactMatch.Score([], []));
    }
}
