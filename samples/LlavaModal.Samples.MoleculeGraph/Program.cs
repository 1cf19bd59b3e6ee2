using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LlavaModal.Abstractions;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Samples.MoleculeGraph.Curriculum;
using LlavaModal.Samples.MoleculeGraph.Plugin;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

// The molecule-graph sample: a graph modality (SMILES → GIN → projector) trained onto the image toy model with the
// library's own trainer. Commands: synth, train, eval, ask (see README.md).
var modelOption = new Option<string?>("--model") { Description = "Model folder (default: the sample's shipped model, next to the binary)." };
var threads = new Option<int>("--threads") { Description = "Torch CPU threads (default 1: reproducible, and fastest on a shared machine).", DefaultValueFactory = _ => 1 };

var synthOut = new Option<string>("--out") { Description = "New folder for graphs/, stage1.json and stage2.json.", Required = true };
var synthCount = new Option<int>("--count") { Description = "Molecules.", DefaultValueFactory = _ => 100 };
var synthSeed = new Option<int>("--seed") { Description = "Seed.", DefaultValueFactory = _ => 1 };
var synth = new Command("synth", "Write random molecules as .smi files with captions and question/answer conversations (LLaVA JSON with a media list).") { synthOut, synthCount, synthSeed };
synth.SetAction(parse => Run(() =>
{
    var output = LlavaModal.Abstractions.IO.OutputPaths.CheckFolder(parse.GetValue(synthOut)!, [], overwrite: false, "--out");
    var written = GraphCurriculum.Write(output, Positive(parse.GetValue(synthCount), "--count"), parse.GetValue(synthSeed));
    Console.WriteLine($"{written.Molecules.Count} molecules: {written.Stage1Path}, {written.Stage2Path}");
}));

var trainOut = new Option<string>("--out") { Description = "New folder for the trained model.", Required = true };
var trainWork = new Option<string>("--work") { Description = "New folder for the data and intermediate models.", Required = true };
var trainBase = new Option<string?>("--base") { Description = "LLaVA folder to add the graph modality to (default: the image toy model, copied next to the binary)." };
var trainSeed = new Option<int>("--seed") { Description = "Seed of the molecules, weights and data order.", DefaultValueFactory = _ => 1 };
var quick = new Option<bool>("--quick") { Description = "The shortened CI curriculum (tiny encoder, few steps)." };
var continueFrom = new Option<string?>("--continue") { Description = "A trained graph model: run only a further stage 2 on fresh molecules of --seed (--steps, --lr)." };
var steps = new Option<int>("--steps") { Description = "Stage-2 steps of --continue.", DefaultValueFactory = _ => 600 };
var lr = new Option<double>("--lr") { Description = "Peak learning rate of --continue.", DefaultValueFactory = _ => 5e-4 };
var train = new Command("train", "Pretrain a GIN, attach it, then stage 1 (projector) and stage 2 (projector + language model) with the library's trainer, and evaluate.")
{
    trainOut, trainWork, trainBase, trainSeed, quick, continueFrom, steps, lr, threads,
};
train.SetAction(parse => Run(() =>
{
    SetThreads(parse.GetValue(threads));
    var output = LlavaModal.Abstractions.IO.OutputPaths.CheckFolder(parse.GetValue(trainOut)!, [parse.GetValue(trainWork)], overwrite: false, "--out");
    var work = LlavaModal.Abstractions.IO.OutputPaths.CheckFolder(parse.GetValue(trainWork)!, [output], overwrite: false, "--work");
    var options = (parse.GetValue(quick) ? GraphRecipeOptions.Quick : new GraphRecipeOptions()) with { Seed = parse.GetValue(trainSeed) };
    var baseModel = parse.GetValue(trainBase) ?? Path.Combine(AppContext.BaseDirectory, "base-model");
    long last = -1;
    void Progress(string phase, LlavaModal.Training.TrainProgress p)
    {
        if (p.Step != p.TotalSteps && p.Step / Math.Max(1, p.TotalSteps / 10) == last) return;
        last = p.Step == p.TotalSteps ? -1 : p.Step / Math.Max(1, p.TotalSteps / 10);
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{phase}: step {p.Step}/{p.TotalSteps}, loss {p.Loss:F4}, {p.SamplesPerSecond:F1} samples/s"));
    }
    var eval = parse.GetValue(continueFrom) is { } from
        ? GraphRecipe.Continue(from, work, output, options with { Stage2 = options.Stage2 with { MaxSteps = Positive(parse.GetValue(steps), "--steps"), LearningRate = parse.GetValue(lr), WarmupRatio = 0.05 } }, Progress, Console.Error.WriteLine).Eval
        : GraphRecipe.Run(baseModel, work, output, options, Progress, Console.Error.WriteLine).Eval;
    Console.WriteLine(JsonSerializer.Serialize(eval.ByType.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value, 4))));
}));

var scenes = new Option<int>("--scenes") { Description = "Fresh molecules to ask about.", DefaultValueFactory = _ => 200 };
var seed = new Option<int>("--seed") { Description = "Seed of the molecules.", DefaultValueFactory = _ => 0 };
var json = new Option<bool>("--json") { Description = "Print {\"overall\", \"by_type\", \"scenes\", \"by_rings\"} as llava-modal eval --json does." };
var eval = new Command("eval", "Ask the curriculum's nine questions about fresh molecules and print exact-match accuracy.") { modelOption, scenes, seed, json, threads };
eval.SetAction(parse => Run(() =>
{
    SetThreads(parse.GetValue(threads));
    int count = Positive(parse.GetValue(scenes), "--scenes");
    var directory = parse.GetValue(modelOption) ?? DefaultModel();
    using var model = MultimodalModel.Load(directory, [new LlavaVisionFactory(), new MoleculeGraphFactory()]);
    var report = GraphEvaluator.Run(model, count, parse.GetValue(seed));
    if (parse.GetValue(json))
    {
        Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["overall"] = Math.Round(report.Overall, 4),
            ["by_type"] = report.ByType.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value, 4)),
            ["scenes"] = report.Scenes,
            ["by_rings"] = report.ByRings.ToDictionary(kv => kv.Key, kv => kv.Value.ToDictionary(o => o.Key.ToString(CultureInfo.InvariantCulture), o => Math.Round(o.Value, 4))),
        }));
        return;
    }
    Console.WriteLine($"{report.Scenes} molecules, seed {report.Seed}, {report.Questions} questions, {report.Seconds:F1} s");
    Console.WriteLine("| question type | accuracy |");
    Console.WriteLine("| --- | --- |");
    foreach (var (type, accuracy) in report.ByType) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {type} | {accuracy:P1} |"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| overall | {report.Overall:P1} |"));
    foreach (var (q, e, g) in report.Mistakes.Take(5)) Console.WriteLine($"  wrong: \"{q}\" expected \"{e}\", got \"{g}\"");
}));

var smiles = new Option<string>("--smiles") { Description = "The molecule, in the sample's SMILES subset.", Required = true };
var question = new Option<string>("--question") { Description = "The question.", Required = true };
var ask = new Command("ask", "Ask one question about one molecule through IChatClient (the plugin registered with AddMoleculeGraph).") { modelOption, smiles, question, threads };
ask.SetAction(parse => Run(() =>
{
    SetThreads(parse.GetValue(threads));
    using var services = MoleculeChat.Services(parse.GetValue(modelOption) ?? DefaultModel());
    var client = services.GetRequiredService<IChatClient>();
    var reply = client.GetResponseAsync([MoleculeChat.Question(parse.GetValue(smiles)!, parse.GetValue(question)!)], new ChatOptions { MaxOutputTokens = 32 }).GetAwaiter().GetResult();
    Console.WriteLine(reply.Text);
}));

var root = new RootCommand("LlavaModal molecule-graph sample: a GIN graph encoder trained onto a LLaVA model.") { synth, train, eval, ask };
var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors) Console.Error.WriteLine($"error: {error.Message}");
    return 2;
}
return parsed.Invoke();

static string DefaultModel()
{
    var path = Path.Combine(AppContext.BaseDirectory, "model");
    if (!File.Exists(Path.Combine(path, "config.json"))) throw new LlavaModalException($"no --model given and the shipped model is missing from {path}.");
    return path;
}

static int Positive(int value, string option) => value >= 1 ? value : throw new ArgumentException($"{option} must be at least 1, got {value}.");

static void SetThreads(int n)
{
    if (n < 1 || n > 4 * Environment.ProcessorCount) throw new ArgumentException($"--threads {n} is outside 1..{4 * Environment.ProcessorCount}.");
    TorchSharp.torch.set_num_threads(n);
}

// Errors a user can act on: one line on stderr, exit code 1 (bad input) or 2 (bad usage).
static int Run(Action action)
{
    try
    {
        action();
        return 0;
    }
    catch (LlavaModalException e) { return Fail(e.Message, 1); }
    catch (ArgumentException e) { return Fail(e.Message, 2); }
    catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or NotSupportedException)
    {
        return Fail(e.Message, 1);
    }

    static int Fail(string message, int code)
    {
        Console.Error.WriteLine($"error: {message}");
        return code;
    }
}
