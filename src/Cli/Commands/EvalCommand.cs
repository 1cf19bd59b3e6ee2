using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LlavaModal.Cli.Toy;
using LlavaModal.Cli.Toy.Audio;
using LlavaModal.Encoders.Audio.Plugin;
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
        var modality = new Option<string>("--modality") { Description = "image: scenes (default model: the image toy model); audio: clips (default model: the audio toy model).", DefaultValueFactory = _ => "image" };
        modality.AcceptOnlyFromAmong("image", "audio");
        var threads = TorchThreads.Option();
        var weights = LoadOptions.WeightsOption();
        var command = new Command("eval", "Ask the curriculum's questions (image: color, shape, count; audio: count, pitch, sound, rhythm, noise) about fresh synthetic inputs and print exact-match accuracy.")
        {
            model, scenes, seed, json, modality, threads, weights,
        };
        command.SetAction((parse, _) => CliErrors.RunAsync(() =>
        {
            TorchThreads.Set(parse.GetValue(threads));
            int count = parse.GetValue(scenes), seedValue = parse.GetValue(seed);
            if (count < 1) throw new ArgumentException($"--scenes must be at least 1, got {count}.");
            var options = new ModelLoadOptions { Weights = LoadOptions.ParseWeights(parse.GetValue(weights)) };
            if (parse.GetValue(modality) == "audio") return Task.FromResult(Audio(DefaultModel.ResolveAudio(parse.GetValue(model)), count, seedValue, parse.GetValue(json), options));
            var directory = DefaultModel.Resolve(parse.GetValue(model));
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

    static int Audio(string directory, int count, int seed, bool json, ModelLoadOptions options)
    {
        using var loaded = CliProgress.Loading(directory, () => MultimodalModel.Load(directory, [new LlavaVisionFactory(), new AudioEncoderFactory()], options));
        var report = CliProgress.Run("eval", (long)Enum.GetValues<AudioQuestionType>().Length * count, "questions", progress => AudioEvaluator.Run(loaded, count, seed, answered: progress));
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["overall"] = Math.Round(report.Overall, 4),
                ["by_type"] = report.ByType.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value, 4)),
                ["scenes"] = report.Scenes,
                ["by_beeps"] = report.ByBeeps.ToDictionary(kv => kv.Key, kv => kv.Value.ToDictionary(o => o.Key.ToString(CultureInfo.InvariantCulture), o => Math.Round(o.Value, 4))),
            }));
            return 0;
        }
        Console.WriteLine($"{report.Scenes} clips, seed {report.Seed}, {report.Questions} questions, {report.Seconds:F1} s");
        var beeps = Enumerable.Range(1, AudioSceneGenerator.MaxBeeps).ToList();
        Console.WriteLine("| question type | accuracy | " + string.Join(" | ", beeps.Select(n => $"{n} beep{(n == 1 ? "" : "s")}")) + " |");
        Console.WriteLine("| --- | --- |" + string.Concat(beeps.Select(_ => " --- |")));
        foreach (var (type, acc) in report.ByType)
            Console.WriteLine($"| {type} | {acc:P1} | " + string.Join(" | ", beeps.Select(n => report.ByBeeps[type].TryGetValue(n, out var a) ? a.ToString("P1", CultureInfo.InvariantCulture) : "-")) + " |");
        Console.WriteLine($"| overall | {report.Overall:P1} |" + string.Concat(beeps.Select(_ => " |")));
        foreach (var (q, e, g) in report.Mistakes.Take(5)) Console.WriteLine($"  wrong: \"{q}\" expected \"{e}\", got \"{g}\"");
        return 0;
    }
}
