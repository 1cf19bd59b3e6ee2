using System.Text.Json;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Cli.Toy;
using LlavaModal.Core.Adapters;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Kernels;
using LlavaModal.Decoder.Generation;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Adapters;
using LlavaModal.Tests.Support;
using LlavaModal.Tokenizers.Chat;
using LlavaModal.Training;
using LlavaModal.Training.Data;
using LlavaModal.Training.Evaluation;
using LlavaModal.Training.Modeling;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Training;

/// <summary>LoRA: adapters trained in stage 2, saved in PEFT's layout, merged at load or into a folder.</summary>
public class LoraTests
{
    static readonly LoraSettings Settings = new() { Rank = 4, Alpha = 8, Dropout = 0 };
    static readonly long[] Ids = [1, 5, 7, 9, 11, 40, 41, 100, 200, 300];

    static TrainOptions Options(long steps, double lr = 1e-2) => new()
    {
        Stage = TrainingStage.Stage2, BatchSize = 4, MaxSteps = steps, LearningRate = lr, WarmupRatio = 0, EvalFraction = 0.2, Seed = 3,
    };

    static string SaveBase(TempDir dir)
    {
        using var model = TrainingTestModels.Create(seed: 5);
        var path = dir.File("base");
        model.Save(path);
        return path;
    }

    /// <summary>The language model's logits [T, vocab] for <see cref="Ids"/>, as training computes them (adapters unmerged, evaluation mode).</summary>
    static Tensor TrainingLogits(LlavaTrainingModel model)
    {
        using var _ = no_grad();
        model.SetTraining(false);
        var ids = tensor(Ids).unsqueeze(0);
        var positions = arange(Ids.Length, dtype: ScalarType.Int64).unsqueeze(0);
        return model.Language.Forward(model.Language.Embed(ids), positions, null).squeeze(0);
    }

    static Tensor LoadedLogits(string directory, ModelLoadOptions? options = null)
    {
        using var model = MultimodalModel.Load(directory, [new LlavaVisionFactory()], options);
        return model.PromptLogits(Ids.Select(i => (int)i).ToList());
    }

    [Fact]
    public void An_untrained_adapter_changes_nothing_and_stage_2_trains_only_adapters_and_projectors()
    {
        using var dir = new TempDir();
        var basePath = SaveBase(dir);
        var (samples, images) = TrainingTestModels.Data(dir.File("data"), 12);
        using var plain = LlavaTrainingModel.Load(basePath);
        using var lora = LlavaTrainingModel.Load(basePath, lora: Settings);
        // B starts at zero: the adapted model computes exactly what the base does.
        Assert.True(TrainingLogits(plain).equal(TrainingLogits(lora)).all().item<bool>());

        var before = lora.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.detach().clone());
        Trainer.Run(lora, samples, images, dir.File("out"), Options(2));
        var config = lora.Language.Config;
        long adapterParameters = 0;
        foreach (var (name, p) in lora.NamedParameters())
        {
            bool adapter = name.Contains(".lora_", StringComparison.Ordinal);
            bool trained = adapter || name.StartsWith("multi_modal_projector.", StringComparison.Ordinal);
            Assert.Equal(trained, p.requires_grad);
            if (adapter) adapterParameters += p.numel();
            bool identical = p.detach().equal(before[name]).all().item<bool>();
            // lora_A gets no gradient while B is still zero, so after two steps only B and the projector are sure to move.
            if (name.EndsWith(".lora_B.weight", StringComparison.Ordinal) || !adapter && trained) Assert.False(identical, $"{name} did not move");
            if (!trained) Assert.True(identical, $"{name} changed but is frozen");
        }
        // r (in + out) per adapted layer: 4 attention projections and 3 MLP projections per layer.
        long perLayer = Settings.Rank * (4L * (config.HiddenSize + config.HiddenSize) + 3L * (config.HiddenSize + 64));
        Assert.Equal(perLayer * config.NumHiddenLayers, adapterParameters);
    }

    [Fact]
    public void The_adapter_is_saved_in_PEFT_layout_and_a_resumed_run_ends_where_an_uninterrupted_one_does()
    {
        using var dir = new TempDir();
        var basePath = SaveBase(dir);
        var (samples, images) = TrainingTestModels.Data(dir.File("data"), 12);
        var options = Options(4, 3e-3) with { WarmupRatio = 0.25 };
        // New adapters draw lora_A from torch's generator: the same seed gives both runs the same start.
        manual_seed(11);
        using var straight = LlavaTrainingModel.Load(basePath, lora: Settings);
        Trainer.Run(straight, samples, images, dir.File("a"), options);

        var saved = dir.File("a");
        Assert.False(File.Exists(Path.Combine(saved, "model.safetensors")));
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(saved, "adapter_config.json"))))
        {
            var root = doc.RootElement;
            Assert.Equal("LORA", root.GetProperty("peft_type").GetString());
            Assert.Equal("CAUSAL_LM", root.GetProperty("task_type").GetString());
            Assert.Equal(4, root.GetProperty("r").GetInt32());
            Assert.Equal(8, root.GetProperty("lora_alpha").GetDouble());
            Assert.Equal(Path.GetFullPath(basePath), root.GetProperty("base_model_name_or_path").GetString());
            Assert.Equal(LoraSettings.AllProjections, root.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()!).ToList());
            Assert.Equal(["multi_modal_projector"], root.GetProperty("modules_to_save").EnumerateArray().Select(e => e.GetString()!).ToList());
            Assert.Equal("none", root.GetProperty("bias").GetString());
        }
        using (var file = SafeTensorsFile.Open(Path.Combine(saved, PeftAdapter.WeightsFileName)))
        {
            var expected = new HashSet<string>(StringComparer.Ordinal);
            for (int layer = 0; layer < 2; layer++)
                foreach (var (module, inWidth, outWidth) in new[] { ("self_attn.q_proj", 32, 32), ("self_attn.k_proj", 32, 32), ("self_attn.v_proj", 32, 32), ("self_attn.o_proj", 32, 32), ("mlp.gate_proj", 32, 64), ("mlp.up_proj", 32, 64), ("mlp.down_proj", 64, 32) })
                {
                    var prefix = $"base_model.model.language_model.model.layers.{layer}.{module}";
                    Assert.Equal([4L, inWidth], file.Tensors[prefix + ".lora_A.weight"].Shape);
                    Assert.Equal([(long)outWidth, 4L], file.Tensors[prefix + ".lora_B.weight"].Shape);
                    expected.Add(prefix + ".lora_A.weight");
                    expected.Add(prefix + ".lora_B.weight");
                }
            foreach (var p in new[] { "linear_1.weight", "linear_1.bias", "linear_2.weight", "linear_2.bias" }) expected.Add("base_model.model.multi_modal_projector." + p);
            Assert.Equal(expected.Order(StringComparer.Ordinal), file.Tensors.Keys.Order(StringComparer.Ordinal));
        }

        manual_seed(11);
        using (var first = LlavaTrainingModel.Load(basePath, lora: Settings))
            Assert.Throws<OperationCanceledException>(() => Trainer.Run(first, samples, images, dir.File("b"), options with { SaveEvery = 2 },
                progress: p => { if (p.Step == 2) throw new OperationCanceledException("interrupted"); }));
        using var resumed = LlavaTrainingModel.Load(dir.File("b"));
        Assert.Equal((Settings.Rank, Settings.Alpha, Settings.UseRsLora), (resumed.Lora!.Rank, resumed.Lora.Alpha, resumed.Lora.UseRsLora));
        Assert.Equal(Settings.TargetModules, resumed.Lora.TargetModules);
        Assert.Equal(4, Trainer.Run(resumed, samples, images, dir.File("b"), options with { SaveEvery = 2 }, resume: true).Steps);
        var expectedParameters = straight.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter);
        foreach (var (name, p) in resumed.NamedParameters())
            Assert.True(p.detach().allclose(expectedParameters[name], rtol: 1e-5, atol: 1e-7), $"{name} differs after resuming");
    }

    [Fact]
    public void Merged_and_unmerged_adapters_give_the_same_logits()
    {
        using var dir = new TempDir();
        var basePath = SaveBase(dir);
        var (samples, images) = TrainingTestModels.Data(dir.File("data"), 12);
        var adapterPath = dir.File("adapter");
        using var trained = LlavaTrainingModel.Load(basePath, lora: Settings with { Alpha = 16 });
        Trainer.Run(trained, samples, images, adapterPath, Options(4));
        using var unmerged = TrainingLogits(trained);

        using var baseLogits = LoadedLogits(basePath);
        using var mergedAtLoad = LoadedLogits(adapterPath);
        using var withOption = LoadedLogits(basePath, new ModelLoadOptions { Adapter = adapterPath });
        var mergedPath = dir.File("merged");
        var result = AdapterMerger.Merge(adapterPath, null, mergedPath);
        Assert.Equal(14, result.MergedLayers);
        Assert.Equal(4, result.ReplacedTensors);
        using var mergedFolder = LoadedLogits(mergedPath);

        // The adapter matters (else this test could not fail) ...
        Assert.False(baseLogits.allclose(unmerged, rtol: 1e-3, atol: 1e-3), "the trained adapter did not change the logits");
        // ... and x Wᵀ + s·B(A x) equals x (W + s·B A)ᵀ to float rounding.
        Assert.True(unmerged.allclose(mergedAtLoad, rtol: 1e-4, atol: 1e-5), $"max difference {(unmerged - mergedAtLoad).abs().max().item<float>()}");
        Assert.True(mergedAtLoad.equal(withOption).all().item<bool>());
        Assert.True(mergedAtLoad.equal(mergedFolder).all().item<bool>());
        // On the kernels, the merged source hands the untouched embedding table's rows on from the base's file.
        using var onKernels = LoadedLogits(adapterPath, new ModelLoadOptions { Weights = WeightFormat.F32 });
        Assert.True(mergedAtLoad.allclose(onKernels, rtol: 1e-4, atol: 1e-5), $"max difference {(mergedAtLoad - onKernels).abs().max().item<float>()}");

        // The merged folder holds the trained projector and is an ordinary model folder.
        using var weights = SafeTensorsCheckpoint.Open(mergedPath);
        foreach (var (name, p) in trained.NamedParameters().Where(p => p.Name.StartsWith("multi_modal_projector.", StringComparison.Ordinal)))
            Assert.True(weights.Read(name).equal(p.detach()).all().item<bool>(), name);
        Assert.DoesNotContain(weights.Names, n => n.Contains("lora", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(mergedPath, "tokenizer.model")));
    }

    [Fact]
    public void Adapters_that_do_not_fit_are_refused_naming_the_problem()
    {
        using var dir = new TempDir();
        var basePath = SaveBase(dir);
        var (samples, images) = TrainingTestModels.Data(dir.File("data"), 8);
        var good = dir.File("good");
        using (var m = LlavaTrainingModel.Load(basePath, lora: Settings))
            Trainer.Run(m, samples, images, good, Options(1));

        string Variant(string name, Action<string> change)
        {
            var path = dir.File(name);
            Directory.CreateDirectory(path);
            foreach (var f in Directory.EnumerateFiles(good)) File.Copy(f, Path.Combine(path, Path.GetFileName(f)));
            change(path);
            return path;
        }
        void EditConfig(string path, string from, string to)
        {
            var file = Path.Combine(path, PeftAdapterConfig.FileName);
            File.WriteAllText(file, File.ReadAllText(file).Replace(from, to, StringComparison.Ordinal));
        }

        var dora = Variant("dora", p => EditConfig(p, "\"use_dora\": false", "\"use_dora\": true"));
        Assert.Equal("use_dora", Assert.Throws<ConfigException>(() => LoadedLogits(dora)).Key);
        var prompt = Variant("prompt", p => EditConfig(p, "\"peft_type\": \"LORA\"", "\"peft_type\": \"PROMPT_TUNING\""));
        Assert.Contains("PROMPT_TUNING", Assert.Throws<ConfigException>(() => LoadedLogits(prompt)).Message);
        var hub = Variant("hub", p => EditConfig(p, JsonSerializer.Serialize(Path.GetFullPath(basePath)), "\"llava-hf/llava-1.5-7b-hf\""));
        var e = Assert.Throws<ConfigException>(() => LoadedLogits(hub));
        Assert.Equal("base_model_name_or_path", e.Key);
        Assert.Contains("--adapter", e.Message);
        var bin = Variant("bin", p => File.Move(Path.Combine(p, PeftAdapter.WeightsFileName), Path.Combine(p, "adapter_model.bin")));
        Assert.Contains("safe_serialization", Assert.Throws<CheckpointException>(() => LoadedLogits(bin)).Message);

        // A rank the config does not give, and a layer the base does not have.
        var rank = Variant("rank", p => EditConfig(p, "\"r\": 4", "\"r\": 8"));
        Assert.Contains("rank 4", Assert.Throws<CheckpointException>(() => LoadedLogits(rank)).Message);
        var other = dir.File("other-base");
        using (var bigger = LlavaTrainingModel.Create(TrainingTestModels.Vision(), TrainingTestModels.Text() with { HiddenSize = 48, HeadDim = 24 }, new([-1], "default")))
            bigger.Save(other);
        var wrong = Assert.Throws<CheckpointException>(() => LoadedLogits(other, new ModelLoadOptions { Adapter = good }));
        Assert.Contains("q_proj", wrong.Message);
        Assert.Contains("[32, 32]", wrong.Message);

        // Settings that cannot train.
        Assert.Throws<ArgumentException>(() => LlavaTrainingModel.Load(basePath, lora: Settings with { TargetModules = ["qkv_proj"] }));
        Assert.Throws<ArgumentException>(() => LlavaTrainingModel.Load(good, lora: Settings with { Rank = 16 }));
        var r = CliRunner.Run("train", "--stage", "1", "--model", basePath, "--data", dir.File("data/stage2.json"), "--images", images, "--out", dir.File("cli"), "--lora-rank", "4");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("stage 2", r.Stderr);
    }

    /// <summary>
    /// A LoRA run learns something the base model does not know: on the shipped toy model (99% on its own questions),
    /// colour answers are remapped (red → blue → green → yellow → purple → orange → red); after 80 steps of rank-8
    /// adapters the model must answer the remapped colour of fresh scenes well above chance (1 in 6), where the base gets
    /// none. This is also the CLI's path: train --lora-rank, eval through MultimodalModel.Load of the adapter folder.
    /// </summary>
    [Fact]
    public void A_LoRA_stage_2_teaches_the_toy_model_a_new_answer()
    {
        using var dir = new TempDir();
        var colors = SceneGenerator.Colors.Select(c => c.Name).ToList();
        string Remap(string color) => colors[(colors.IndexOf(color) + 1) % colors.Count];
        string RemapAnswer(string answer)
        {
            // Colour answers read "The circle's red."; only those change.
            var parts = answer.TrimEnd('.').Split("'s ");
            return parts.Length == 2 && colors.Contains(parts[1]) ? $"{parts[0]}'s {Remap(parts[1])}." : answer;
        }
        var data = Curriculum.Write(dir.File("data"), 300, seed: 77);
        var remapped = dir.File("remapped.json");
        LlavaDataFile.Save(remapped, data.Stage2.Select(s => s with { Conversations = s.Conversations.Select(t => t.From == "gpt" ? t with { Value = RemapAnswer(t.Value) } : t).ToList() }).ToList());
        var toy = Path.Combine(AppContext.BaseDirectory, "models", "llava-modal-toy");
        // Through the CLI with one torch thread: two threads spin-wait for each other on a shared machine.
        var r = CliRunner.Run("train", "--stage", "2", "--model", toy, "--data", remapped, "--images", data.ImageFolder, "--out", dir.File("adapter"),
            "--steps", "80", "--batch-size", "16", "--lr", "3e-3", "--warmup-ratio", "0.05", "--seed", "1", "--lora-rank", "8", "--lora-alpha", "16", "--threads", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using (var state = JsonDocument.Parse(File.ReadAllText(dir.File("adapter/trainer_state.json"))))
        {
            var history = state.RootElement.GetProperty("log_history").EnumerateArray().ToList();
            double first = history[0].GetProperty("loss").GetDouble(), last = history[^1].GetProperty("loss").GetDouble();
            Assert.True(last < first / 5, $"loss {first} -> {last}");
        }

        double Accuracy(string directory)
        {
            using var m = MultimodalModel.Load(directory, [new LlavaVisionFactory()]);
            var generator = new SceneGenerator(4242, 64, 8);
            var random = new Random(4242);
            var items = Enumerable.Range(0, 40).Select(i =>
            {
                var scene = generator.Next();
                var q = Curriculum.Ask(QuestionType.Color, scene, random);
                var image = new ModalityInput(Curriculum.PngBytes(scene.Render()), "image/png", $"scene {i}");
                return (Prompt: m.RenderChat([new ChatTurn(TurnRole.User, q.Text)], [image]), Answer: RemapAnswer(q.Answer));
            }).ToList();
            var replies = m.GenerateBatch(items.Select(x => x.Prompt).ToList(), new GenerationOptions { MaxNewTokens = 16 });
            return items.Zip(replies).Count(x => ExactMatch.Normalize(x.Second.Text) == ExactMatch.Normalize(x.First.Answer)) / (double)items.Count;
        }
        double before = Accuracy(toy), after = Accuracy(dir.File("adapter"));
        Assert.True(before < 0.1, $"the base model already answers the remapped colours ({before:P0})");
        Assert.True(after > 0.5, $"remapped colour accuracy {after:P0} after LoRA (chance 17%)");
    }
}
