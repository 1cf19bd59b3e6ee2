using System.CommandLine;
using LlavaModal.Cli.Toy;
using LlavaModal.Cli.Toy.Audio;

namespace LlavaModal.Cli.Commands;

/// <summary><c>llava-modal synth</c>: the synthetic curriculum's images and LLaVA-format data.</summary>
static class SynthCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "New folder: images/, stage1.json (captions), stage2.json (question/answer conversations).", Required = true };
        var count = new Option<int>("--count") { Description = "Scenes to generate.", DefaultValueFactory = _ => 1000 };
        var seed = new Option<int>("--seed") { Description = "Seed; the same seed gives the same scenes.", DefaultValueFactory = _ => 0 };
        var size = new Option<int>("--image-size") { Description = "Image side in pixels.", DefaultValueFactory = _ => 64 };
        var patch = new Option<int>("--patch-size") { Description = "Patch side of the vision tower the scenes are for: objects are centred on patch corners (0: free placement).", DefaultValueFactory = _ => 8 };
        var modality = new Option<string>("--modality") { Description = "image: scenes (PNG); audio: clips of beeps (WAV) with a media list.", DefaultValueFactory = _ => "image" };
        modality.AcceptOnlyFromAmong("image", "audio");
        var command = new Command("synth", "Generate synthetic scenes (coloured circles, squares and triangles) or audio clips (--modality audio: beeps, tones, chords, rhythms, noise) with captions (stage 1) and questions (stage 2) in LLaVA's JSON format.")
        {
            output, count, seed, size, patch, modality,
        };
        command.SetAction((parse, _) => CliErrors.RunAsync(() =>
        {
            var dir = parse.GetValue(output)!;
            dir = Outputs.Folder(dir, "--out", force: false);
            if (parse.GetValue(count) < 1) throw new ArgumentException("--count must be at least 1.");
            if (parse.GetValue(modality) == "audio")
            {
                var a = AudioCurriculum.Write(dir, parse.GetValue(count), parse.GetValue(seed));
                Console.WriteLine($"wrote {a.Scenes.Count} clips to {Path.Combine(dir, "audio")}, {a.Stage1.Count} captions to {a.Stage1Path}, {a.Stage2.Count} conversations to {a.Stage2Path} (media paths relative to {a.MediaFolder})");
                return Task.FromResult(0);
            }
            if (parse.GetValue(size) is < 16 or > 1024) throw new ArgumentException("--image-size must be within 16..1024.");
            var o = Curriculum.Write(dir, parse.GetValue(count), parse.GetValue(seed), parse.GetValue(size), parse.GetValue(patch));
            Console.WriteLine($"wrote {o.Scenes.Count} images to {o.ImageFolder}, {o.Stage1.Count} captions to {o.Stage1Path}, {o.Stage2.Count} conversations to {o.Stage2Path}");
            return Task.FromResult(0);
        }));
        return command;
    }
}
