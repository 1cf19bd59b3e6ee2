using System.CommandLine;
using LlavaModal.Cli.Toy;
using LlavaModal.Cli.Toy.Audio;

namespace LlavaModal.Cli.Commands;

/// <summary><c>llava-modal recipe</c>: the full pipeline that made the shipped toy model.</summary>
static class RecipeCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "New folder for the final LLaVA model.", Required = true };
        var work = new Option<string>("--work") { Description = "New folder for the data and the intermediate models (vision, language, stage1).", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed of everything.", DefaultValueFactory = _ => 1 };
        var quick = new Option<bool>("--quick") { Description = "The shortened curriculum CI runs (small models, few steps)." };
        var modality = new Option<string>("--modality") { Description = "image: the whole toy model from scratch; audio: an audio encoder and projector trained onto --base.", DefaultValueFactory = _ => "image" };
        modality.AcceptOnlyFromAmong("image", "audio");
        var loraRank = new Option<int?>("--lora-rank") { Description = "Image curriculum: stage 2 trains LoRA adapters of this rank (alpha 2 x rank, every projection) instead of the language model's weights; merged into --out." };
        var stage2Lr = new Option<double?>("--stage2-lr") { Description = "Image curriculum: peak learning rate of stage 2 (default 2e-3; LoRA usually wants a few times more than full training)." };
        var baseModel = new Option<string?>("--base") { Description = "With --modality audio: the LLaVA model the audio plugin is trained onto (default: the shipped image toy model); only read." };
        var threads = TorchThreads.Option();
        var command = new Command("recipe", "Synthesise scenes, pretrain a CLIP-architecture tower and a LLaMA-architecture model on them, then run LLaVA stage 1 and stage 2 and evaluate (--modality audio: clips, a Whisper-architecture encoder, both stages onto --base).")
        {
            output, work, seed, quick, modality, baseModel, loraRank, stage2Lr, threads,
        };
        command.SetAction((parse, _) => CliErrors.RunAsync(() =>
        {
            var outDir = parse.GetValue(output)!;
            var workDir = parse.GetValue(work)!;
            var source = parse.GetValue(modality) == "audio" ? DefaultModel.Resolve(parse.GetValue(baseModel)) : null;
            outDir = Outputs.Folder(outDir, "--out", force: false, workDir, source);
            workDir = Outputs.Folder(workDir, "--work", force: false, outDir, source);
            TorchThreads.Set(parse.GetValue(threads));
            if (source is not null)
            {
                var audio = (parse.GetValue(quick) ? AudioRecipeOptions.Quick : new AudioRecipeOptions()) with { Seed = parse.GetValue(seed) };
                TrainingProgress.Run(report => AudioRecipe.Run(source, workDir, outDir, audio, report, line => Console.WriteLine(line)));
                return Task.FromResult(0);
            }
            var options = (parse.GetValue(quick) ? RecipeOptions.Quick : new RecipeOptions()) with { Seed = parse.GetValue(seed) };
            if (parse.GetValue(stage2Lr) is double lr) options = options with { Stage2 = options.Stage2 with { LearningRate = lr } };
            if (parse.GetValue(loraRank) is int rank)
            {
                var lora = new Core.Adapters.LoraSettings { Rank = rank, Alpha = 2.0 * rank };
                lora.Validate();
                options = options with { Stage2Lora = lora };
            }
            TrainingProgress.Run(report => ToyRecipe.Run(workDir, outDir, options, report, line => Console.WriteLine(line)));
            return Task.FromResult(0);
        }));
        return command;
    }
}
