using System.Diagnostics;
using LlavaModal.Decoder.Generation;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;

namespace LlavaModal.Training.Evaluation;

/// <summary>One question of an exact-match evaluation.</summary>
/// <param name="Type">The question type it is counted under (e.g. <c>count</c>).</param>
/// <param name="Group">A second key to break accuracy down by (e.g. objects in the scene, rings in the molecule).</param>
/// <param name="Prompt">The rendered chat (<see cref="MultimodalModel.RenderChat"/>) with its media.</param>
/// <param name="Question">The question as a person reads it, for the mistakes list.</param>
/// <param name="Answer">The expected reply.</param>
public sealed record EvalQuestion(string Type, int Group, MultimodalPrompt Prompt, string Question, string Answer);

/// <summary>Exact-match accuracy over a list of <see cref="EvalQuestion"/>s.</summary>
/// <param name="Overall">Correct replies over all questions.</param>
/// <param name="ByType">Accuracy per question type, in the order the types first appear.</param>
/// <param name="ByGroup">Accuracy per question type and group (type → group → accuracy).</param>
/// <param name="Questions">Questions asked.</param>
/// <param name="Mistakes">The first wrong replies (question, expected, got), at most ten.</param>
/// <param name="MajorityBaseline">What always giving each type's most common expected answer would score: the chance level to beat.</param>
/// <param name="Seconds">Wall time of the generation and scoring.</param>
public sealed record ExactMatchResult(double Overall, IReadOnlyDictionary<string, double> ByType, IReadOnlyDictionary<string, IReadOnlyDictionary<int, double>> ByGroup,
    int Questions, IReadOnlyList<(string Question, string Expected, string Got)> Mistakes, double MajorityBaseline, double Seconds);

/// <summary>
/// The quality measure of a curriculum: every question is answered through the ordinary inference path (greedy, in
/// batches) and the whole reply is compared with the expected one after <see cref="Normalize"/>, so the attribute and
/// whatever the sentence names with it must both be right. The image, audio and graph curricula all score this way.
/// </summary>
public static class ExactMatch
{
    const int KeptMistakes = 10;

    /// <summary>Answers <paramref name="questions"/> with <paramref name="model"/> and scores the replies; <paramref name="answered"/> hears how many are answered so far.</summary>
    /// <exception cref="ArgumentException">No questions, or a batch size or token limit under 1.</exception>
    public static ExactMatchResult Run(MultimodalModel model, IReadOnlyList<EvalQuestion> questions, int maxNewTokens = 32, int batchSize = 24, Action<long>? answered = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(questions);
        if (questions.Count == 0) throw new ArgumentException("there are no questions to ask.", nameof(questions));
        if (batchSize < 1) throw new ArgumentException($"the batch size must be at least 1, got {batchSize}.", nameof(batchSize));
        if (maxNewTokens < 1) throw new ArgumentException($"the token limit must be at least 1, got {maxNewTokens}.", nameof(maxNewTokens));
        var clock = Stopwatch.StartNew();
        var options = new GenerationOptions { MaxNewTokens = maxNewTokens };
        var replies = new List<string>(questions.Count);
        for (int i = 0; i < questions.Count; i += batchSize)
        {
            var chunk = questions.Skip(i).Take(batchSize).Select(q => q.Prompt).ToList();
            replies.AddRange(model.GenerateBatch(chunk, options).Select(r => r.Text));
            answered?.Invoke(replies.Count);
        }
        return Score(questions, replies) with { Seconds = clock.Elapsed.TotalSeconds };
    }

    /// <summary>Scores <paramref name="replies"/> (one per question, in order) against the expected answers.</summary>
    /// <exception cref="ArgumentException">The counts differ, or there are no questions.</exception>
    public static ExactMatchResult Score(IReadOnlyList<EvalQuestion> questions, IReadOnlyList<string> replies)
    {
        ArgumentNullException.ThrowIfNull(questions);
        ArgumentNullException.ThrowIfNull(replies);
        if (questions.Count == 0) throw new ArgumentException("there are no questions to score.", nameof(questions));
        if (replies.Count != questions.Count) throw new ArgumentException($"{replies.Count} replies for {questions.Count} questions.", nameof(replies));
        var correct = new Dictionary<(string Type, int Group), int>();
        var total = new Dictionary<(string Type, int Group), int>();
        var mistakes = new List<(string, string, string)>();
        for (int i = 0; i < questions.Count; i++)
        {
            var q = questions[i];
            var got = Normalize(replies[i]);
            bool right = got == Normalize(q.Answer);
            var key = (q.Type, q.Group);
            total[key] = total.GetValueOrDefault(key) + 1;
            correct[key] = correct.GetValueOrDefault(key) + (right ? 1 : 0);
            if (!right && mistakes.Count < KeptMistakes) mistakes.Add((q.Question, q.Answer, got));
        }
        var types = questions.Select(q => q.Type).Distinct().ToList();
        var byType = types.ToDictionary(t => t, t => (double)correct.Where(kv => kv.Key.Type == t).Sum(kv => kv.Value) / total.Where(kv => kv.Key.Type == t).Sum(kv => kv.Value));
        var byGroup = types.ToDictionary(t => t, t => (IReadOnlyDictionary<int, double>)total.Keys.Where(k => k.Type == t).OrderBy(k => k.Group)
            .ToDictionary(k => k.Group, k => (double)correct[k] / total[k]));
        double majority = (double)questions.GroupBy(q => q.Type).Sum(g => g.GroupBy(q => Normalize(q.Answer)).Max(a => a.Count())) / questions.Count;
        return new ExactMatchResult((double)correct.Values.Sum() / questions.Count, byType, byGroup, questions.Count, mistakes, majority, 0);
    }

    /// <summary>The comparison form of a reply: trimmed, final period dropped, lower-cased.</summary>
    public static string Normalize(string reply) => (reply ?? "").Trim().TrimEnd('.').Trim().ToLowerInvariant();
}
