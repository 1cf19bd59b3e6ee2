using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LlavaModal.Cli.Toy;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;

namespace LlavaModal.Cli.Commands;

/// <summary><c>llava-modal eval</c>: exact-match accuracy on fresh synthetic scenes.</summary>
static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "LLaVA folder (default: the shipped toy model)." };
        var scenes = new Option<int>("--scenes") { Description = "Fresh scenes to generate and ask about.", DefaultValueFactory = _ => 200 };
        var seed = new Option<int>("--seed") { Description = "Seed of the scenes (any seed).", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "Print {\"overall\", \"by_type\": {color, shape, count}, \"scenes\"}." };
        var threads = TorchThreads.Option();
        var weights = LoadOptions.WeightsOption();
        var command = new Command("eval", "Ask the curriculum's questions (color, shape, count) about fresh synthetic scenes and print exact-match accuracy.")
        {
            model, scenes, seed, json, threads, weights,
        };
        command.SetAction((parse, _) => CliErrors.RunAsync(() =>
        {
            TorchThreads.Set(parse.GetValue(threads));
            var directory = DefaultModel.Resolve(parse.GetValue(model));
            int count = parse.GetValue(scenes), seedValue = parse.GetValue(seed);
            if (count < 1) throw new ArgumentException($"--scenes must be at least 1, got {count}.");
            var options = new ModelLoadOptions { Weights = LoadOptions.ParseWeights(parse.GetValue(weights)) };
            using var loaded = CliProgress.Loading(directory, () => MultimodalModel.Load(directory, [new LlavaVisionFactory()], options));
            var report = CliProgress.Run("eval", (long)Enum.GetValues<QuestionType>().Length * count, "questions", progress => SceneEvaluator.Run(loaded, count, seedValue, answered: progress));
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["overall"] = Math.Round(report.Overall, 4),
                    ["by_type"] = report.ByType.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value, 4)),
                    ["scenes"] = report.Scenes,
                    ["by_objects"] = report.ByObjects.ToDictionary(kv => kv.Key, kv => kv.Value.ToDictionary(o => o.Key.ToString(CultureInfo.InvariantCulture), o => Math.Round(o.Value, 4))),
                }));
                return Task.FromResult(0);
            }
            Console.WriteLine($"{report.Scenes} scenes, seed {report.Seed}, {report.Questions} questions, {report.Seconds:F1} s");
            var counts = Enumerable.Range(1, SceneGenerator.MaxObjects).ToList();
            Console.WriteLine("| question type | accuracy | " + string.Join(" | ", counts.Select(n => $"{n} object{(n == 1 ? "" : "s")}")) + " |");
            Console.WriteLine("| --- | --- |" + string.Concat(counts.Select(_ => " --- |")));
            foreach (var (type, acc) in report.ByType)
                Console.WriteLine($"| {type} | {acc:P1} | " + string.Join(" | ", counts.Select(n => report.ByObjects[type].TryGetValue(n, out var a) ? a.ToString("P1", CultureInfo.InvariantCulture) : "-")) + " |");
            Console.WriteLine($"| overall | {report.Overall:P1} |" + string.Concat(counts.Select(_ => " |")));
            foreach (var (q, e, g) in report.Mistakes.Take(5)) Console.WriteLine($"  wrong: \"{q}\" expected \"{e}\", got \"{g}\"");
            return Task.FromResult(0);
        }));
        return command;
    }
}
