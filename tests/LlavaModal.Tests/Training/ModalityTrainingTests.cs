using LlavaModal.Abstractions.Modality;
using LlavaModal.Cli.Toy.Audio;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Encoders.Audio.Plugin;
using LlavaModal.Encoders.Audio.Whisper;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Tests.Support;
using LlavaModal.Tokenizers.Chat;
using LlavaModal.Training;
using LlavaModal.Training.Data;
using LlavaModal.Training.Modeling;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Training;

/// <summary>Training over a plugin modality (audio) beside images: freezing per stage and modality, data, and a folder that loads.</summary>
public class ModalityTrainingTests
{
    /// <summary>A tiny random LLaVA model with a tiny random Whisper encoder attached (25 tokens per 2 s clip).</summary>
    static string AudioModel(TempDir dir)
    {
        using (var m = TrainingTestModels.Create()) m.Save(dir.File("base"));
        manual_seed(5);
        using (var encoder = new WhisperEncoder(new WhisperEncoderConfig { DModel = 16, EncoderLayers = 1, EncoderAttentionHeads = 2, EncoderFfnDim = 32, NumMelBins = 40, MaxSourcePositions = 50 }))
            WhisperFolder.Write(dir.File("whisper"), encoder, AudioCurriculum.Features);
        AudioAttacher.Attach(dir.File("base"), dir.File("whisper"), dir.File("model"), new AttachAudioOptions { AveragePool = true, Seed = 1 });
        return dir.File("model");
    }

    /// <summary>Image conversations, audio conversations and conversations about an image and a clip together, all under one media folder.</summary>
    static (List<LlavaSample> Samples, string Media) Data(TempDir dir, int count)
    {
        var root = dir.File("data");
        var (images, _) = TrainingTestModels.Data(root, count);
        var audio = AudioCurriculum.Write(root, count, 2);
        var samples = images.Where(s => s.Image is not null).Select(s => s with { Image = "images/" + s.Image }).ToList();
        samples.AddRange(audio.Stage2);
        for (int i = 0; i < count; i++)
        {
            samples.Add(new LlavaSample($"both-{i}", samples[i].Image,
                [new("human", "<image>\n<audio>\nHow many beeps are there?"), new("gpt", AudioCurriculum.Ask(AudioQuestionType.Count, audio.Scenes[i]).Answer),
                 new("human", "What does the image hold?"), new("gpt", samples[i].Conversations[1].Value)],
                audio.Stage2[i].Media));
        }
        return (samples, root);
    }

    static IModalityEncoderFactory[] Plugins => [new AudioEncoderFactory()];

    [Theory]
    [InlineData(TrainingStage.Stage1)]
    [InlineData(TrainingStage.Stage2)]
    public void A_stage_trains_the_chosen_modalitys_projector_and_keeps_every_other_weight_bit_identical(TrainingStage stage)
    {
        using var dir = new TempDir();
        var folder = AudioModel(dir);
        var (samples, media) = Data(dir, 6);
        using var model = LlavaTrainingModel.Load(folder, plugins: Plugins);
        Assert.Equal(["image", "audio"], model.ModalityNames);
        var before = model.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.detach().clone());
        Trainer.Run(model, samples, media, dir.File("out"), new TrainOptions
        {
            Stage = stage, Modalities = ["audio"], BatchSize = 4, MaxSteps = 1, LearningRate = 1e-2, WarmupRatio = 0, EvalFraction = 0, Seed = 3,
        });
        foreach (var (name, p) in model.NamedParameters())
        {
            bool identical = p.detach().equal(before[name]).all().item<bool>();
            bool trained = name.StartsWith("audio_projector.", StringComparison.Ordinal)
                || (stage == TrainingStage.Stage2 && name.StartsWith("language_model.", StringComparison.Ordinal));
            if (trained) Assert.False(identical, $"{name} did not move");
            else Assert.True(identical, $"{name} changed but is frozen in {stage} (image projector and vision tower included)");
        }
        // The encoder is the plugin's: written back bit for bit, in its stored dtype, beside the trained projector.
        using var source = SafeTensorsCheckpoint.Open(folder);
        using var saved = SafeTensorsCheckpoint.Open(dir.File("out"));
        var towers = source.Names.Where(n => n.StartsWith("audio_tower.", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(towers);
        foreach (var name in towers)
        {
            using var a = source.Read(name);
            using var b = saved.Read(name);
            Assert.True(a.equal(b).all().item<bool>(), $"{name} changed");
        }
        Assert.True(saved.Contains("audio_projector.linear_1.weight"));
        Assert.True(File.Exists(Path.Combine(dir.File("out"), AudioEncoderFactory.PreprocessorFileName)));
    }

    [Fact]
    public void Image_and_audio_in_one_sample_train_and_the_saved_folder_answers_with_both()
    {
        using var dir = new TempDir();
        var (samples, media) = Data(dir, 6);
        using var model = LlavaTrainingModel.Load(AudioModel(dir), plugins: Plugins);
        var both = samples.Where(s => s.Id.StartsWith("both-", StringComparison.Ordinal)).ToList();
        var result = Trainer.Run(model, both, media, dir.File("out"), new TrainOptions
        {
            Stage = TrainingStage.Stage2, BatchSize = 3, MaxSteps = 30, LearningRate = 1e-2, WarmupRatio = 0.1, EvalFraction = 0, Seed = 3,
        });
        Assert.True(result.FinalLoss < result.FirstLoss * 0.5, $"loss {result.FirstLoss} -> {result.FinalLoss}");

        using var loaded = MultimodalModel.Load(dir.File("out"), [new LlavaVisionFactory(), new AudioEncoderFactory()]);
        Assert.Equal(["audio", "image"], loaded.Modalities.Select(m => m.Modality).Order());
        var reply = loaded.Chat([new(TurnRole.User, "<image>\n<audio>\nHow many beeps are there?")],
            [ModalityInput.FromFile(Path.Combine(media, both[0].Image!)), ModalityInput.FromFile(Path.Combine(media, both[0].Media![0].File))],
            new LlavaModal.Decoder.Generation.GenerationOptions { MaxNewTokens = 4 });
        Assert.True(reply.CompletionTokens > 0);
    }

    [Fact]
    public void Media_of_a_modality_without_a_plugin_is_a_typed_error_naming_it()
    {
        using var dir = new TempDir();
        var (samples, media) = Data(dir, 2);
        var thermal = new LlavaSample("hot", null, [new("human", "<thermal>\nIs it hot?"), new("gpt", "Yes.")], [new LlavaMedia("thermal", "audio/clip-000000.wav")]);
        using var model = LlavaTrainingModel.Load(AudioModel(dir), plugins: Plugins);
        var e = Assert.Throws<UnregisteredModalityException>(() => Trainer.Run(model, [.. samples, thermal], media, dir.File("a"), new TrainOptions { BatchSize = 2, MaxSteps = 1 }));
        Assert.Equal("thermal", e.Modality);
        Assert.Contains("'hot'", e.Message);
        Assert.Contains("registered: audio, image", e.Message);
        Assert.False(Directory.Exists(dir.File("a")) && Directory.EnumerateFileSystemEntries(dir.File("a")).Any());

        // The same folder loaded without the audio plugin cannot train audio samples either.
        using var imageOnly = LlavaTrainingModel.Load(dir.File("model"));
        var audio = Assert.Throws<UnregisteredModalityException>(() => Trainer.Run(imageOnly, samples, media, dir.File("b"), new TrainOptions { BatchSize = 2, MaxSteps = 1 }));
        Assert.Equal("audio", audio.Modality);
    }

    [Fact]
    public void Label_masks_cover_every_placeholder_and_are_unchanged_for_image_samples()
    {
        using var dir = new TempDir();
        var (samples, media) = Data(dir, 2);
        using var model = LlavaTrainingModel.Load(AudioModel(dir), plugins: Plugins);
        var plain = new ConversationEncoder(model.Tokenizer, template: ChatTemplate.Named("vicuna_v1"));
        var withAudio = new ConversationEncoder(model.Tokenizer, template: ChatTemplate.Named("vicuna_v1"), modalities: model.Placeholders);
        int audioId = withAudio.PlaceholderIds["audio"];
        foreach (var s in samples)
        {
            var e = withAudio.Encode(s, media);
            if (s.Media is null)
            {
                var reference = plain.Encode(s, media);
                Assert.Equal(reference.Ids, e.Ids);
                Assert.Equal(reference.Labels, e.Labels);
            }
            for (int i = 0; i < e.Ids.Length; i++)
                if (e.Ids[i] == audioId || e.Ids[i] == withAudio.ImageTokenId) Assert.Equal(ConversationEncoder.IgnoreIndex, e.Labels[i]);
            Assert.Equal(s.Media?.Count ?? 0, e.Media.Count);
            Assert.All(e.Media, m => Assert.StartsWith(Path.GetFullPath(media), m.Path, StringComparison.Ordinal));
            // Supervised tokens are exactly the replies' (the same count as without the placeholder in the text).
            Assert.True(e.SupervisedTokens > 0);
        }
        var missing = samples.First(s => s.Media is not null) with { Media = [] };
        Assert.Throws<InvalidDataException>(() => withAudio.Encode(missing, media));
        var two = samples.First(s => s.Media is not null);
        Assert.Throws<InvalidDataException>(() => withAudio.Encode(two with { Media = [two.Media![0], two.Media[0]] }, media));
    }
}
