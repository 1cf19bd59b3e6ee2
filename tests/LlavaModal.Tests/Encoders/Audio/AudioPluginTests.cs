using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Decoder.Generation;
using LlavaModal.Encoders.Audio;
using LlavaModal.Encoders.Audio.Plugin;
using LlavaModal.Encoders.Audio.Reading;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tests.Multimodal;
using LlavaModal.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Encoders.Audio;

/// <summary>Hashes of every file under a folder, by relative path.</summary>
static class FolderHash
{
    public static SortedDictionary<string, string> Of(string dir)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
            result[Path.GetRelativePath(dir, file)] = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file)));
        return result;
    }
}

/// <summary>Clips built in memory from the fixture's chirp.</summary>
static class Clips
{
    public static string ChirpPath => Path.Combine(Fixtures.Root, "whisper-features", "chirp_noise_1p5s.wav");
    public static ModalityInput Chirp => ModalityInput.FromFile(ChirpPath, "audio");

    /// <summary>The chirp repeated to <paramref name="seconds"/> s (16 kHz, 16-bit; the samples are exactly the fixture's).</summary>
    public static double[] Repeated(double seconds)
    {
        var chirp = new AudioReader().ReadFile(ChirpPath);
        var x = new double[(int)Math.Round(seconds * 16000)];
        for (int i = 0; i < x.Length; i++) x[i] = chirp[i % chirp.Length];
        return x;
    }

    public static ModalityInput Wav(double[] samples, string name) => new(TestWav.Wav(samples, 1, 16000), "audio/wav", name);
}

/// <summary>llava-tiny-a with whisper-encoder-tiny attached by the CLI (and a pooled, linear variant attached through the API).</summary>
public sealed class AttachedAudioFixture : IDisposable
{
    readonly TempDir temp = new();

    public AttachedAudioFixture()
    {
        InputHashesBefore = (FolderHash.Of(Fixtures.LlavaTinyA), FolderHash.Of(WhisperDir));
        Dir = Path.Combine(temp.Path, "llava-audio");
        Attach = CliRunner.Run("attach-audio", "--model", Fixtures.LlavaTinyA, "--encoder", WhisperDir, "--out", Dir, "--seed", "7");
        if (Attach.ExitCode != 0) throw new InvalidOperationException($"attach-audio failed: {Attach.Stderr}");
        InputHashesAfter = (FolderHash.Of(Fixtures.LlavaTinyA), FolderHash.Of(WhisperDir));
        PooledDir = Path.Combine(temp.Path, "llava-audio-pooled");
        AudioAttacher.Attach(Fixtures.LlavaTinyA, WhisperDir, PooledDir, new AttachAudioOptions { AveragePool = true, ProjectorType = "linear", Seed = 3 });
        // The tiny model's context is 2048 positions; these tests splice an image and a clip (2111 positions) and a 65 s
        // clip (4500), more than requests are held to by default, so they raise the limit.
        var longPrompts = new ModelLoadOptions { Limits = new ModelLimits { MaxContextTokens = 8192 } };
        Model = MultimodalModel.Load(Dir, [new LlavaVisionFactory(), new AudioEncoderFactory()], longPrompts);
        Pooled = MultimodalModel.Load(PooledDir, [new LlavaVisionFactory(), new AudioEncoderFactory()], longPrompts);
        Expected = SafeTensorsFile.Open(Path.Combine(WhisperDir, "expected", "encoder.safetensors"));
    }

    public static string WhisperDir => Path.Combine(Fixtures.Root, "whisper-encoder-tiny");
    public string Root => temp.Path;
    public string Dir { get; }
    public string PooledDir { get; }
    public CliRunner.Result Attach { get; }
    public (SortedDictionary<string, string> Model, SortedDictionary<string, string> Whisper) InputHashesBefore { get; }
    public (SortedDictionary<string, string> Model, SortedDictionary<string, string> Whisper) InputHashesAfter { get; }
    public MultimodalModel Model { get; }
    public MultimodalModel Pooled { get; }
    public SafeTensorsFile Expected { get; }

    public ModalityBinding Audio(MultimodalModel m) => m.Modalities.Single(b => b.Encoder.Modality == "audio");
    public WhisperAudioEncoder AudioEncoder(MultimodalModel m) => (WhisperAudioEncoder)Audio(m).Encoder;

    public void Dispose()
    {
        Model.Dispose();
        Pooled.Dispose();
        Expected.Dispose();
        temp.Dispose();
    }
}

public class AudioPluginTests(AttachedAudioFixture fx, ITestOutputHelper output) : IClassFixture<AttachedAudioFixture>
{
    const string ImageAndAudio = "USER: <image>\n<audio>\nWhat do you see and hear? ASSISTANT:";

    [Fact]
    public void Attach_writes_the_documented_layout_and_leaves_the_inputs_byte_identical()
    {
        Assert.Equal(fx.InputHashesBefore.Model, fx.InputHashesAfter.Model);
        Assert.Equal(fx.InputHashesBefore.Whisper, fx.InputHashesAfter.Whisper);
        Assert.Contains("audio_tower", fx.Attach.Stdout);

        foreach (var file in new[] { "config.json", "model-base.safetensors", "model-audio.safetensors", "model.safetensors.index.json", "audio_preprocessor_config.json", "preprocessor_config.json", "tokenizer.model", "tokenizer_config.json" })
            Assert.True(File.Exists(Path.Combine(fx.Dir, file)), file);
        Assert.False(File.Exists(Path.Combine(fx.Dir, "model.safetensors")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(Fixtures.LlavaTinyA, "model.safetensors")), File.ReadAllBytes(Path.Combine(fx.Dir, "model-base.safetensors")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(AttachedAudioFixture.WhisperDir, "preprocessor_config.json")), File.ReadAllBytes(Path.Combine(fx.Dir, "audio_preprocessor_config.json")));

        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(fx.Dir, "config.json")));
        var audio = config.RootElement.GetProperty("audio_config");
        Assert.Equal(64, audio.GetProperty("d_model").GetInt32());
        Assert.Equal(2, audio.GetProperty("encoder_layers").GetInt32());
        Assert.Equal(1500, audio.GetProperty("max_source_positions").GetInt32());
        Assert.Equal("mlp2x_gelu", audio.GetProperty("audio_projector_type").GetString());
        Assert.False(audio.GetProperty("audio_pool").GetBoolean());
        Assert.Equal(510, config.RootElement.GetProperty("image_token_index").GetInt32()); // the rest of the config is kept

        using var weights = SafeTensorsCheckpoint.Open(fx.Dir);
        using var whisper = SafeTensorsCheckpoint.Open(AttachedAudioFixture.WhisperDir);
        var tower = weights.Names.Where(n => n.StartsWith("audio_tower.", StringComparison.Ordinal)).ToList();
        var encoderNames = whisper.Names.Where(n => n.StartsWith("encoder.", StringComparison.Ordinal)).ToList();
        Assert.Equal(encoderNames.Select(n => "audio_tower." + n["encoder.".Length..]).Order(), tower.Order());
        Assert.DoesNotContain(weights.Names, n => n.Contains("decoder.", StringComparison.Ordinal) && !n.StartsWith("language_model", StringComparison.Ordinal));
        foreach (var n in encoderNames)
            Assert.True(whisper.Read(n).equal(weights.Read("audio_tower." + n["encoder.".Length..])).all().item<bool>(), n);
        Assert.Equal(new long[] { 64, 64 }, weights.Info("audio_projector.linear_1.weight").Shape);
        Assert.Equal(new long[] { 64, 64 }, weights.Info("audio_projector.linear_2.weight").Shape);
        Assert.Equal(0, weights.Read("audio_projector.linear_1.bias").abs().sum().item<float>());
        Assert.Equal(0, weights.Read("audio_projector.linear_2.bias").abs().sum().item<float>());
        var std = weights.Read("audio_projector.linear_1.weight").std().item<float>();
        Assert.InRange(std, 0.017f, 0.023f);
        Assert.True(weights.Contains("language_model.model.embed_tokens.weight"));
    }

    [Fact]
    public void The_projector_is_seeded()
    {
        using var dir = new TempDir();
        AudioAttacher.Attach(Fixtures.LlavaTinyA, AttachedAudioFixture.WhisperDir, dir.File("a"), new AttachAudioOptions { Seed = 7 });
        AudioAttacher.Attach(Fixtures.LlavaTinyA, AttachedAudioFixture.WhisperDir, dir.File("b"), new AttachAudioOptions { Seed = 8 });
        using var cli = SafeTensorsFile.Open(Path.Combine(fx.Dir, "model-audio.safetensors"));
        using var a = SafeTensorsFile.Open(Path.Combine(dir.File("a"), "model-audio.safetensors"));
        using var b = SafeTensorsFile.Open(Path.Combine(dir.File("b"), "model-audio.safetensors"));
        Assert.Equal(cli.ReadBytes("audio_projector.linear_2.weight"), a.ReadBytes("audio_projector.linear_2.weight"));
        Assert.NotEqual(a.ReadBytes("audio_projector.linear_2.weight"), b.ReadBytes("audio_projector.linear_2.weight"));
    }

    [Fact]
    public void Both_plugins_load_and_the_image_path_is_unchanged()
    {
        Assert.Equal(new[] { "image", "audio" }, fx.Model.Modalities.Select(m => m.Encoder.Modality));
        var audio = fx.Audio(fx.Model);
        Assert.Equal("<audio>", audio.Encoder.Placeholder);
        Assert.Equal(("mlp2x_gelu", 64, 64), (audio.Projector.Type, audio.Projector.InputWidth, audio.Projector.OutputWidth));
        Assert.Equal(1500, fx.AudioEncoder(fx.Model).TokensPerWindow);
        Assert.Equal(750, fx.AudioEncoder(fx.Pooled).TokensPerWindow);
        Assert.Equal("linear", fx.Audio(fx.Pooled).Projector.Type);
        Assert.Contains("audio", fx.Model.PlaceholderIds.Keys);

        // The copied decoder and vision tower give the original model's logits.
        using var original = MultimodalModel.Load(Fixtures.LlavaTinyA, [new LlavaVisionFactory()]);
        var prompt = new MultimodalPrompt("USER: <image>\nWhat is this? ASSISTANT:", [LlavaTinyFixture.ImageFile("img2")]);
        var (ours, _, _) = fx.Model.PromptLogits(prompt);
        var (reference, _, _) = original.PromptLogits(prompt);
        Assert.True(ours.equal(reference).all().item<bool>());
        ours.Dispose();
        reference.Dispose();
    }

    [Fact]
    public void The_attached_audio_tower_reproduces_the_reference_encoder_output()
    {
        using var scope = NewDisposeScope();
        var encoder = fx.AudioEncoder(fx.Model);
        var expected = fx.Expected.Read("chirp.encoder_output").squeeze(0);

        // From the reference's own features: checks the copied weights alone.
        using var reference = new PreparedInput(fx.Expected.Read("chirp.input_features"), 1500, "reference features");
        var fromFeatures = Parity.RelativeError(encoder.Encode(reference, CPU), expected);

        // From the WAV, through reader, extractor and the plugin.
        using var prepared = encoder.Prepare(Clips.Chirp);
        Assert.Equal(new long[] { 1, 80, 3000 }, prepared.Values.shape);
        Assert.Equal(1500, prepared.TokenCount);
        using var detail = encoder.EncodeDetailed(prepared, CPU);
        var fromWav = Parity.RelativeError(detail.EncoderOutput, expected);
        Assert.True(detail.EncoderOutput.equal(detail.Features).all().item<bool>());
        output.WriteLine($"attached audio_tower vs reference chirp.encoder_output: from reference features {fromFeatures:E3}, from the WAV {fromWav:E3}");
        Assert.True(fromFeatures <= 1e-4, $"{fromFeatures:E3}");
        Assert.True(fromWav <= 1e-4, $"{fromWav:E3}");

        // Pooled: the unpooled output is still the reference's; the features are half as many.
        var pooled = fx.AudioEncoder(fx.Pooled);
        using var pooledPrepared = pooled.Prepare(Clips.Chirp);
        Assert.Equal(750, pooledPrepared.TokenCount);
        using var pooledDetail = pooled.EncodeDetailed(pooledPrepared, CPU);
        Assert.True(Parity.RelativeError(pooledDetail.EncoderOutput, expected) <= 1e-4);
        Assert.Equal(new long[] { 750, 64 }, pooledDetail.Features.shape);
    }

    [Fact]
    public void An_image_and_a_clip_in_one_prompt_are_spliced_in_prompt_order_and_generation_runs()
    {
        var image = LlavaTinyFixture.ImageFile("img2");
        var prompt = new MultimodalPrompt(ImageAndAudio, [image, Clips.Chirp]);
        var (logits, ids, spans) = fx.Model.PromptLogits(prompt);
        Assert.Equal(new[] { ("image", 576), ("audio", 1500) }, spans.Select(s => (s.Modality, s.Length)));
        int imageAt = ids.ToList().IndexOf(fx.Model.PlaceholderIds["image"]);
        int audioAt = ids.ToList().IndexOf(fx.Model.PlaceholderIds["audio"]);
        Assert.True(imageAt < audioAt);
        Assert.Equal(imageAt, spans[0].Start);
        Assert.Equal(audioAt - 1 + 576, spans[1].Start);
        Assert.Equal(ids.Count - 2 + 576 + 1500, logits.shape[0]);
        logits.Dispose();

        // The decoder sees the projected audio exactly at its span.
        using (var scope = NewDisposeScope())
        {
            var binding = fx.Audio(fx.Model);
            using var prepared = binding.Encoder.Prepare(Clips.Chirp);
            var projected = binding.Projector.Project(binding.Encoder.Encode(prepared, CPU));
            var embeds = fx.Model.InputsEmbeds(prompt);
            Parity.AssertClose(embeds.narrow(0, spans[1].Start, 1500), projected, 1e-6, "audio span");
        }

        // Placeholders decide the order, not the order of the inputs of different modalities.
        var swapped = fx.Model.PromptLogits(new MultimodalPrompt("USER: <audio>\n<image>\nWhat do you hear and see? ASSISTANT:", [image, Clips.Chirp]));
        Assert.Equal(new[] { ("audio", 1500), ("image", 576) }, swapped.Spans.Select(s => (s.Modality, s.Length)));
        swapped.Logits.Dispose();

        var pooled = fx.Pooled.PromptLogits(prompt);
        Assert.Equal(new[] { ("image", 576), ("audio", 750) }, pooled.Spans.Select(s => (s.Modality, s.Length)));
        pooled.Logits.Dispose();

        var result = fx.Model.Generate(prompt, new GenerationOptions { MaxNewTokens = 4 });
        Assert.Equal(4, result.GeneratedIds.Count);
        Assert.Equal(ids.Count - 2 + 576 + 1500, result.PromptTokens);
    }

    [Fact]
    public void A_65_s_clip_becomes_three_windows_spliced_in_order_as_one_input()
    {
        using var scope = NewDisposeScope();
        var samples = Clips.Repeated(65);
        var clip = Clips.Wav(samples, "long.wav");
        var binding = fx.Audio(fx.Model);
        var encoder = fx.AudioEncoder(fx.Model);
        using var prepared = encoder.Prepare(clip);
        Assert.Equal(new long[] { 3, 80, 3000 }, prepared.Values.shape);
        Assert.Equal(3 * 1500, prepared.TokenCount);

        var prompt = new MultimodalPrompt("USER: <audio>\nSummarise. ASSISTANT:", [clip]);
        var ids = fx.Model.Tokenizer.Encode(prompt.Text).ToList();
        int start = ids.IndexOf(fx.Model.PlaceholderIds["audio"]);
        var embeds = fx.Model.InputsEmbeds(prompt);
        Assert.Equal(ids.Count - 1 + 4500, embeds.shape[0]);

        // The first window is the first 30 s on their own; the third the last 5 s, padded: their tokens come first and last.
        using var head = encoder.Prepare(Clips.Wav(samples[..(30 * 16000)], "head.wav"));
        using var tail = encoder.Prepare(Clips.Wav(samples[(60 * 16000)..], "tail.wav"));
        // Close rather than bit-equal: the FFT and GEMM summation order may follow libtorch's thread partitioning.
        Parity.AssertClose(prepared.Values[0], head.Values[0], 1e-6, "first window features");
        Parity.AssertClose(prepared.Values[2], tail.Values[0], 1e-6, "third window features");
        Parity.AssertClose(embeds.narrow(0, start, 1500), binding.Projector.Project(encoder.Encode(head, CPU)), 1e-5, "first window");
        Parity.AssertClose(embeds.narrow(0, start + 3000, 1500), binding.Projector.Project(encoder.Encode(tail, CPU)), 1e-5, "third window");
        Assert.True(Parity.RelativeError(prepared.Values[2], prepared.Values[0]) > 0.1, "windows must differ");

        // Generation runs over the 4500 audio positions.
        var result = fx.Model.Generate(prompt, new GenerationOptions { MaxNewTokens = 1 });
        Assert.Equal(ids.Count - 1 + 4500, result.PromptTokens);
    }

    [Fact]
    public void A_five_minute_clip_is_refused_by_the_token_budget_before_it_is_encoded()
    {
        // Issue 15: a 5-minute WAV became 15013 positions (> 8 GB) on a model with a 2048-position context.
        using var model = MultimodalModel.Load(fx.Dir, [new LlavaVisionFactory(), new AudioEncoderFactory()]);
        var clip = Clips.Wav(new double[300 * 16000], "five-minutes.wav");
        var e = Assert.Throws<InputLimitException>(() => model.Generate(new MultimodalPrompt("USER: <audio>\nSummarise. ASSISTANT:", [clip])));
        Assert.Contains("15000 for audio five-minutes.wav", e.Message);
        Assert.Equal(2047, e.Maximum);
    }

    [Fact]
    public void Refuse_policy_rejects_a_long_clip_with_a_clear_error()
    {
        var services = new ServiceCollection();
        services.AddLlavaModal(o => o.ModelDirectory = fx.Dir).AddAudio(new AudioPluginOptions { LongClips = LongClipPolicy.Refuse });
        using var provider = services.BuildServiceProvider();
        var model = provider.GetRequiredService<MultimodalModel>();
        Assert.Equal(new[] { "image", "audio" }, model.Modalities.Select(m => m.Encoder.Modality));
        var e = Assert.Throws<LlavaModalException>(() => model.Generate(new MultimodalPrompt("USER: <audio>\nHi ASSISTANT:", [Clips.Wav(Clips.Repeated(31), "long.wav")])));
        output.WriteLine(e.Message);
        Assert.StartsWith("long.wav: ", e.Message);
        Assert.Contains("31.0 s", e.Message);
        Assert.Contains("30 s window", e.Message);
        Assert.Contains("LongClips", e.Message);
        // A clip of exactly one window is fine.
        var ok = model.Generate(new MultimodalPrompt("USER: <audio>\nHi ASSISTANT:", [Clips.Wav(Clips.Repeated(30), "exact.wav")]), new GenerationOptions { MaxNewTokens = 1 });
        Assert.Single(ok.GeneratedIds);
    }

    [Fact]
    public void Placeholder_and_clip_counts_must_agree()
    {
        var e = Assert.Throws<LlavaModalException>(() => fx.Model.Generate(new MultimodalPrompt("USER: <audio> and <audio>\nSame? ASSISTANT:", [Clips.Chirp])));
        output.WriteLine(e.Message);
        Assert.Contains("2 <audio> placeholders but 1 audio input", e.Message);
        var none = Assert.Throws<LlavaModalException>(() => fx.Model.Generate(new MultimodalPrompt("USER: Hello ASSISTANT:", [Clips.Chirp])));
        Assert.Contains("0 <audio> placeholders", none.Message);
    }

    [Theory]
    [InlineData("corrupt")]
    [InlineData("no-samples")]
    [InlineData("empty")]
    [InlineData("unknown")]
    public void Bad_clips_through_the_model_give_errors_naming_the_clip(string kind)
    {
        var good = TestWav.Wav(TestWav.Sine(16000, 0.5, 440), 1, 16000);
        var (bytes, mediaType, expected) = kind switch
        {
            "corrupt" => (good[..(good.Length / 2)], "audio/wav", "truncated"),
            "no-samples" => (TestWav.Riff(("fmt ", TestWav.Fmt(TestWav.Pcm, 1, 16000, 16), null), ("data", [], null)), "audio/wav", "no audio samples"),
            "empty" => (Array.Empty<byte>(), "audio/wav", "empty"),
            _ => ("not audio at all"u8.ToArray(), (string?)null, "unrecognised audio format"),
        };
        var input = new ModalityInput(bytes, mediaType, $"{kind}.wav") { Modality = "audio" };
        var e = Assert.ThrowsAny<LlavaModalException>(() => fx.Model.Generate(new MultimodalPrompt("USER: <image>\n<audio>\nHi ASSISTANT:", [LlavaTinyFixture.ImageFile("img2"), input])));
        output.WriteLine(e.Message);
        Assert.IsType<InvalidAudioException>(e);
        Assert.StartsWith($"{kind}.wav: ", e.Message);
        Assert.Contains(expected, e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Clips_are_routed_by_media_type_or_content()
    {
        var encoder = fx.AudioEncoder(fx.Model);
        var bytes = File.ReadAllBytes(Clips.ChirpPath);
        Assert.True(encoder.Accepts(new ModalityInput(bytes)));
        Assert.True(encoder.Accepts(new ModalityInput(bytes, "audio/x-wav")));
        Assert.True(encoder.Accepts(new ModalityInput(new byte[] { 1, 2, 3 }, "audio/mpeg")));
        Assert.False(encoder.Accepts(new ModalityInput(File.ReadAllBytes(Path.Combine(Fixtures.Images, "tiny_7x5.png")))));
        // No modality given: the clip finds the audio plugin by itself.
        var (logits, _, spans) = fx.Model.PromptLogits(new MultimodalPrompt("USER: <audio>\nHi ASSISTANT:", [new ModalityInput(bytes, null, "sniffed")]));
        Assert.Equal("audio", Assert.Single(spans).Modality);
        logits.Dispose();
    }

    [Fact]
    public void A_plain_llama_folder_takes_audio_too()
    {
        using var dir = new TempDir();
        var target = dir.File("llama-audio");
        var result = AudioAttacher.Attach(Fixtures.LlamaTiny, AttachedAudioFixture.WhisperDir, target, new AttachAudioOptions { ProjectorType = "linear" });
        Assert.Equal(64, result.DecoderHiddenSize);
        using var model = MultimodalModel.Load(target, [new LlavaVisionFactory(), new AudioEncoderFactory()]);
        Assert.Equal("audio", Assert.Single(model.Modalities).Encoder.Modality);
        var r = model.Generate(new MultimodalPrompt("<audio>\nHello", [Clips.Chirp]), new GenerationOptions { MaxNewTokens = 2 });
        Assert.Equal(2, r.GeneratedIds.Count);
    }

    [Fact]
    public void A_sharded_model_keeps_its_shards_and_the_index_lists_everything()
    {
        using var dir = new TempDir();
        var sharded = dir.File("sharded");
        LlavaModal.Cli.Commands.InitCommand.Write(sharded, LlavaModal.Cli.Presets.Llama["tiny"], 0, 300 << 10);
        var shards = Directory.GetFiles(sharded, "model-*-of-*.safetensors").Select(Path.GetFileName).Order().ToList();
        Assert.True(shards.Count > 1);
        var target = dir.File("sharded-audio");
        AudioAttacher.Attach(sharded, AttachedAudioFixture.WhisperDir, target, new AttachAudioOptions { AveragePool = true });
        foreach (var shard in shards)
            Assert.Equal(File.ReadAllBytes(Path.Combine(sharded, shard!)), File.ReadAllBytes(Path.Combine(target, shard!)));
        using (var original = SafeTensorsCheckpoint.Open(sharded))
        using (var attached = SafeTensorsCheckpoint.Open(target))
        {
            Assert.Subset(attached.Names.ToHashSet(), original.Names.ToHashSet());
            Assert.Contains("audio_tower.conv1.weight", attached.Names);
        }
        using var model = MultimodalModel.Load(target, [new LlavaVisionFactory(), new AudioEncoderFactory()]);
        var (logits, _, spans) = model.PromptLogits(new MultimodalPrompt("<audio>\nHello", [Clips.Chirp]));
        Assert.Equal(750, Assert.Single(spans).Length);
        logits.Dispose();
    }

    [Fact]
    public void An_mp3_clip_is_spliced_like_a_wav()
    {
        var mp3 = new ModalityInput(TestMp3.SilentFrames(40, withId3: true), "audio/mpeg", "silence.mp3");
        Assert.True(fx.AudioEncoder(fx.Model).Accepts(mp3 with { MediaType = null }));
        var (logits, _, spans) = fx.Model.PromptLogits(new MultimodalPrompt("USER: <audio>\nAnything? ASSISTANT:", [mp3]));
        Assert.Equal(new MediaSpan("audio", spans[0].Start, 1500), Assert.Single(spans));
        logits.Dispose();
    }

    [Fact]
    public void The_projector_width_follows_the_decoder_config_defaults()
    {
        // llava-hf configs often omit text_config.hidden_size; the decoder then has LLaMA's default 4096.
        using var dir = new TempDir();
        var model = dir.File("no-hidden");
        Directory.CreateDirectory(model);
        foreach (var f in Directory.GetFiles(Fixtures.LlavaTinyA)) File.Copy(f, Path.Combine(model, Path.GetFileName(f)));
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(model, "config.json")))!;
        config["text_config"]!.AsObject().Remove("hidden_size");
        File.WriteAllText(Path.Combine(model, "config.json"), config.ToJsonString());
        var result = AudioAttacher.Attach(model, AttachedAudioFixture.WhisperDir, dir.File("out"), new AttachAudioOptions { ProjectorType = "linear" });
        Assert.Equal(4096, result.DecoderHiddenSize);
        using var weights = SafeTensorsFile.Open(Path.Combine(dir.File("out"), AudioAttacher.AudioWeightsFileName));
        Assert.Equal(new long[] { 4096, 64 }, weights.Tensors["audio_projector.linear_1.weight"].Shape);
    }

    [Fact]
    public void Attaching_twice_or_into_an_input_is_refused()
    {
        using var dir = new TempDir();
        var twice = Assert.Throws<CheckpointException>(() => AudioAttacher.Attach(fx.Dir, AttachedAudioFixture.WhisperDir, dir.File("x")));
        Assert.Contains("already has an audio_config", twice.Message);
        Assert.False(Directory.Exists(dir.File("x")));
        var inside = Assert.Throws<ArgumentException>(() => AudioAttacher.Attach(fx.Dir, AttachedAudioFixture.WhisperDir, Path.Combine(fx.Dir, "sub")));
        Assert.Contains("inside the input folder", inside.Message);
        var badType = Assert.Throws<ArgumentException>(() => AudioAttacher.Attach(Fixtures.LlavaTinyA, AttachedAudioFixture.WhisperDir, dir.File("y"), new AttachAudioOptions { ProjectorType = "conv" }));
        Assert.Contains("conv", badType.Message);
        Assert.False(Directory.Exists(dir.File("y")));
    }

    [Fact]
    public void Attach_audio_cli_refuses_a_non_empty_out_and_leaves_everything_untouched()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("keep.txt"), "mine");
        var before = (FolderHash.Of(Fixtures.LlavaTinyA), FolderHash.Of(AttachedAudioFixture.WhisperDir));
        var r = CliRunner.Run("attach-audio", "--model", Fixtures.LlavaTinyA, "--encoder", AttachedAudioFixture.WhisperDir, "--out", dir.Path);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("not empty", r.Stderr);
        Assert.Equal(new[] { "keep.txt" }, Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
        Assert.Equal(before.Item1, FolderHash.Of(Fixtures.LlavaTinyA));
        Assert.Equal(before.Item2, FolderHash.Of(AttachedAudioFixture.WhisperDir));
    }

    [Fact]
    public void Encode_cli_writes_the_documented_tensors_for_audio()
    {
        using var dir = new TempDir();
        var file = dir.File("chirp.safetensors");
        var r = CliRunner.Run("encode", "--model", fx.Dir, "--audio", Clips.ChirpPath, "--out", file);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var t = SafeTensorsFile.Open(file);
        Assert.Equal(new[] { "encoder_output", "input_features", "projected" }, t.Tensors.Keys.Order());
        Assert.All(t.Tensors.Values, i => Assert.Equal("F32", i.DType));
        Assert.Equal(new long[] { 1, 80, 3000 }, t.Tensors["input_features"].Shape);
        Assert.Equal(new long[] { 1, 1500, 64 }, t.Tensors["encoder_output"].Shape);
        Assert.Equal(new long[] { 1, 1500, 64 }, t.Tensors["projected"].Shape);
        Parity.AssertClose(t.Read("input_features"), fx.Expected.Read("chirp.input_features"), 1e-4, "input_features");
        Parity.AssertClose(t.Read("encoder_output"), fx.Expected.Read("chirp.encoder_output"), 1e-4, "encoder_output");
        using var projected = fx.Audio(fx.Model).Projector.Project(t.Read("encoder_output").squeeze(0));
        Parity.AssertClose(t.Read("projected").squeeze(0), projected, 1e-6, "projected");

        // Pooled, 65 s: three windows of features, unpooled encoder output, half as many projected tokens.
        var longWav = dir.File("long.wav");
        File.WriteAllBytes(longWav, TestWav.Wav(Clips.Repeated(65), 1, 16000));
        var pooledFile = dir.File("long.safetensors");
        var p = CliRunner.Run("encode", "--model", fx.PooledDir, "--audio", longWav, "--out", pooledFile);
        Assert.True(p.ExitCode == 0, p.Stderr);
        using var pooled = SafeTensorsFile.Open(pooledFile);
        Assert.Equal(new long[] { 3, 80, 3000 }, pooled.Tensors["input_features"].Shape);
        Assert.Equal(new long[] { 1, 4500, 64 }, pooled.Tensors["encoder_output"].Shape);
        Assert.Equal(new long[] { 1, 2250, 64 }, pooled.Tensors["projected"].Shape);
    }

    [Fact]
    public void Encode_cli_writes_the_documented_tensors_for_an_image()
    {
        using var dir = new TempDir();
        var file = dir.File("img.safetensors");
        var r = CliRunner.Run("encode", "--model", fx.Dir, "--image", Path.Combine(Fixtures.Images, "tiny_7x5.png"), "--out", file);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var t = SafeTensorsFile.Open(file);
        Assert.Equal(new[] { "encoder_output", "pixel_values", "projected" }, t.Tensors.Keys.Order());
        Assert.Equal(new long[] { 1, 3, 336, 336 }, t.Tensors["pixel_values"].Shape);
        Assert.Equal(new long[] { 1, 576, 32 }, t.Tensors["encoder_output"].Shape);
        Assert.Equal(new long[] { 1, 576, 64 }, t.Tensors["projected"].Shape);
        var image = fx.Model.Modalities.Single(m => m.Encoder.Modality == "image");
        using var prepared = image.Encoder.Prepare(LlavaTinyFixture.ImageFile("img2"));
        Parity.AssertClose(t.Read("pixel_values"), prepared.Values, 1e-6, "pixel_values");
        using var features = image.Encoder.Encode(prepared, CPU);
        Parity.AssertClose(t.Read("encoder_output").squeeze(0), features, 1e-6, "encoder_output");
    }

    [Fact]
    public void Encode_cli_errors_are_clear()
    {
        using var dir = new TempDir();
        var noAudio = CliRunner.Run("encode", "--model", Fixtures.LlavaTinyA, "--audio", Clips.ChirpPath, "--out", dir.File("x.safetensors"));
        Assert.Equal(1, noAudio.ExitCode);
        Assert.Contains("no audio plugin", noAudio.Stderr);
        var both = CliRunner.Run("encode", "--model", fx.Dir, "--audio", Clips.ChirpPath, "--image", Path.Combine(Fixtures.Images, "tiny_7x5.png"), "--out", dir.File("x.safetensors"));
        Assert.Equal(2, both.ExitCode);
        Assert.Contains("exactly one of --image or --audio", both.Stderr);
        var inside = CliRunner.Run("encode", "--model", fx.Dir, "--audio", Clips.ChirpPath, "--out", Path.Combine(fx.Dir, "x.safetensors"));
        Assert.Equal(2, inside.ExitCode);
        Assert.False(File.Exists(Path.Combine(fx.Dir, "x.safetensors")));
    }

    [Fact]
    public void Thirty_seconds_of_audio_to_projected_embeddings_timing()
    {
        var binding = fx.Audio(fx.Model);
        var clip = Clips.Wav(Clips.Repeated(30), "30s.wav");
        double best = double.MaxValue;
        for (int i = 0; i < 3; i++)
        {
            var clock = Stopwatch.StartNew();
            using var scope = NewDisposeScope();
            using var prepared = binding.Encoder.Prepare(clip);
            var prepareMs = clock.Elapsed.TotalMilliseconds;
            var projected = binding.Projector.Project(binding.Encoder.Encode(prepared, CPU));
            Assert.Equal(new long[] { 1500, 64 }, projected.shape);
            best = Math.Min(best, clock.Elapsed.TotalMilliseconds);
            output.WriteLine($"run {i}: prepare (decode + log-mel) {prepareMs:F1} ms, total {clock.Elapsed.TotalMilliseconds:F1} ms");
        }
        output.WriteLine($"30 s of audio -> projected embeddings on the tiny encoder: best {best:F1} ms");
    }
}

public class GenerateWithAudioCliTests(AttachedAudioFixture fx) : IClassFixture<AttachedAudioFixture>
{
    [Fact]
    public void Generate_takes_an_image_and_an_audio_clip_in_one_request()
    {
        var wav = Path.Combine(Fixtures.Root, "whisper-features", "tone_440hz_0p3s.wav");
        var image = Path.Combine(Fixtures.Images, "tiny_7x5.png");
        // 576 image and 1500 audio positions exceed the tiny model's 2048-position context: the limit is raised.
        var r = CliRunner.Run("generate", "--model", fx.Dir, "--image", image, "--audio", wav,
            "--prompt", "What do you see and hear?", "--max-new-tokens", "3", "--json", "--max-context-tokens", "4096");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var root = System.Text.Json.JsonDocument.Parse(r.Stdout).RootElement;
        var ids = root.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToList();
        int image_ = ids.IndexOf(510), audio = ids.IndexOf(fx.Model.PlaceholderIds["audio"]);
        Assert.True(image_ >= 0 && audio > image_, "the image placeholder comes first, then the audio one, each on its own line");
        Assert.Equal(ids.Count - 2 + 576 + 1500, root.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(3, root.GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public void Audio_for_a_model_without_an_audio_encoder_names_the_missing_plugin()
    {
        var wav = Path.Combine(Fixtures.Root, "whisper-features", "tone_440hz_0p3s.wav");
        var r = CliRunner.Run("generate", "--model", Fixtures.LlavaTinyA, "--audio", wav, "--prompt", "Hear this?");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("no 'audio' plugin", r.Stderr);
    }
}
