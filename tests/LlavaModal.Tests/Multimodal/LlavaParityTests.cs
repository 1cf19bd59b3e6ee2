using System.Text.Json;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Decoder.Generation;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tests.Support;
using LlavaModal.Tokenizers.Chat;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Multimodal;

public sealed class LlavaTinyFixture : IDisposable
{
    public LlavaTinyFixture()
    {
        Pad = MultimodalModel.Load(Fixtures.LlavaTinyA, [new LlavaVisionFactory()]);
        Plain = MultimodalModel.Load(Fixtures.LlavaTinyA, [new LlavaVisionFactory(new LlavaVisionOptions { PadToSquare = false, Loader = new() { ApplyExifOrientation = false } })]);
        var expected = Path.Combine(Fixtures.LlavaTinyA, "expected");
        Logits = SafeTensorsFile.Open(Path.Combine(expected, "logits.safetensors"));
        Generate = SafeTensorsFile.Open(Path.Combine(expected, "generate.safetensors"));
        Preprocess = SafeTensorsFile.Open(Path.Combine(expected, "preprocess.safetensors"));
        Batch = SafeTensorsFile.Open(Path.Combine(expected, "batch.safetensors"));
        Index = JsonDocument.Parse(File.ReadAllText(Path.Combine(expected, "index.json"))).RootElement;
    }

    public MultimodalModel Pad { get; }
    public MultimodalModel Plain { get; }
    public SafeTensorsFile Logits { get; }
    public SafeTensorsFile Generate { get; }
    public SafeTensorsFile Preprocess { get; }
    public SafeTensorsFile Batch { get; }
    public JsonElement Index { get; }

    public string Prompt(string p) => Index.GetProperty("prompts").GetProperty(p).GetString()!;

    public static readonly Dictionary<string, string> ImageFiles = new()
    {
        ["img0"] = "gradient_640x480.png", ["img1"] = "portrait_200x300.jpg", ["img2"] = "tiny_7x5.png", ["img3"] = "gray_320x240.png", ["img4"] = "rgba_256x192.png",
    };

    /// <summary>The reference's own pixel values, fed as a safetensors input.</summary>
    public ModalityInput ReferencePixels(string key)
    {
        using var pixels = Preprocess.Read($"{key}.pixel_values");
        var path = Path.Combine(Path.GetTempPath(), $"llavamodal-{key}-{Guid.NewGuid():N}.safetensors");
        SafeTensorsWriter.Write(path, [new("pixel_values", pixels)]);
        var bytes = File.ReadAllBytes(path);
        File.Delete(path);
        return new ModalityInput(bytes, LlavaImageEncoder.PixelValuesMediaType, key) { Modality = "image" };
    }

    public static ModalityInput ImageFile(string img) => ModalityInput.FromFile(Path.Combine(Fixtures.Images, ImageFiles[img]), "image");

    public void Dispose()
    {
        Pad.Dispose();
        Plain.Dispose();
        Logits.Dispose();
        Generate.Dispose();
        Preprocess.Dispose();
        Batch.Dispose();
    }
}

public class LlavaParityTests(LlavaTinyFixture fx) : IClassFixture<LlavaTinyFixture>
{
    [Fact]
    public void Spliced_embeddings_and_logits_match_the_reference_with_reference_pixels()
    {
        var prompt = new MultimodalPrompt(fx.Prompt("p1"), [fx.ReferencePixels("img0.pad")]);
        using var embeds = fx.Pad.InputsEmbeds(prompt);
        Parity.AssertClose(embeds, fx.Logits.Read("p1.img0.pad.inputs_embeds").squeeze(0), 1e-4, "p1 inputs_embeds");
        var (logits, ids, spans) = fx.Pad.PromptLogits(prompt);
        Parity.AssertClose(logits, fx.Logits.Read("p1.img0.pad.logits").squeeze(0), 1e-4, "p1 logits");
        Assert.Equal(132, ids.Count);
        Assert.Equal(new MediaSpan("image", 101, 576), Assert.Single(spans));
        logits.Dispose();
    }

    [Fact]
    public void Image_in_the_middle_of_the_prompt_matches_the_reference()
    {
        var (logits, _, spans) = fx.Pad.PromptLogits(new MultimodalPrompt(fx.Prompt("p2"), [fx.ReferencePixels("img1.pad")]));
        Parity.AssertClose(logits, fx.Logits.Read("p2.img1.pad.logits").squeeze(0), 1e-4, "p2 logits");
        Assert.Equal(122, spans[0].Start);
        logits.Dispose();
    }

    [Fact]
    public void Text_only_prompt_matches_the_reference()
    {
        var prompt = new MultimodalPrompt(fx.Prompt("p3"), []);
        using var embeds = fx.Pad.InputsEmbeds(prompt);
        Parity.AssertClose(embeds, fx.Logits.Read("p3.text.inputs_embeds").squeeze(0), 1e-4, "p3 inputs_embeds");
        var (logits, _, _) = fx.Pad.PromptLogits(prompt);
        Parity.AssertClose(logits, fx.Logits.Read("p3.text.logits").squeeze(0), 1e-4, "p3 logits");
        logits.Dispose();
    }

    [Theory]
    [InlineData("p1.img0.pad")]
    [InlineData("p1.img2.pad")]
    [InlineData("p1.img3.pad")]
    [InlineData("p1.img4.pad")]
    [InlineData("p1.img0.plain")]
    [InlineData("p3.text")]
    public void Greedy_generation_from_the_raw_lossless_files_matches_the_reference(string caseName)
    {
        var parts = caseName.Split('.');
        var model = parts.Length == 3 && parts[2] == "plain" ? fx.Plain : fx.Pad;
        ModalityInput[] inputs = parts[1] == "text" ? [] : [LlavaTinyFixture.ImageFile(parts[1])];
        var stepLogits = new List<Tensor>();
        model.Engine.StepLogitsObserver = l => stepLogits.Add(l.clone().DetachFromDisposeScope());
        GenerationResult result;
        try { result = model.Generate(new MultimodalPrompt(fx.Prompt(parts[0]), inputs), new GenerationOptions { MaxNewTokens = 20, SkipSpecialTokens = false }); }
        finally { model.Engine.StepLogitsObserver = null; }

        var sequences = Parity.Ids(fx.Generate.Read($"{caseName}.sequences"));
        Assert.Equal(sequences.Take(sequences.Length - 20).Select(i => (int)i), result.PromptIds);
        Assert.Equal(sequences.Skip(sequences.Length - 20).Select(i => (int)i), result.GeneratedIds);
        using var ours = cat(stepLogits, 0);
        Parity.AssertClose(ours, fx.Generate.Read($"{caseName}.step_logits"), 1e-3, $"{caseName} step logits");
        var expectedText = fx.Index.GetProperty("cases").GetProperty("single").GetProperty(caseName).GetProperty("decoded_new").GetString();
        Assert.Equal(expectedText, result.Text);
        foreach (var t in stepLogits) t.Dispose();
    }

    [Theory]
    [InlineData("p1.img0.pad", 1)]
    [InlineData("p1.img0.pad", 5)]
    [InlineData("p3.text", 3)]
    public void A_prompt_prefilled_in_pieces_matches_the_whole_prompt_and_the_reference(string caseName, int piece)
    {
        var parts = caseName.Split('.');
        ModalityInput[] inputs = parts[1] == "text" ? [] : [LlavaTinyFixture.ImageFile(parts[1])];
        var prompt = new MultimodalPrompt(fx.Prompt(parts[0]), inputs);
        using var chunked = MultimodalModel.Load(Fixtures.LlavaTinyA, [new LlavaVisionFactory()], new ModelLoadOptions { Limits = new ModelLimits { PrefillChunkTokens = piece } });
        (GenerationResult Result, Tensor Logits) Run(MultimodalModel model)
        {
            var stepLogits = new List<Tensor>();
            model.Engine.StepLogitsObserver = l => stepLogits.Add(l.clone().DetachFromDisposeScope());
            try { return (model.Generate(prompt, new GenerationOptions { MaxNewTokens = 20, SkipSpecialTokens = false }), cat(stepLogits, 0)); }
            finally
            {
                model.Engine.StepLogitsObserver = null;
                foreach (var t in stepLogits) t.Dispose();
            }
        }
        var (whole, wholeLogits) = Run(fx.Pad);
        var (pieces, pieceLogits) = Run(chunked);
        using (wholeLogits)
        using (pieceLogits)
        {
            Assert.True(pieces.PromptTokens > piece, $"{caseName}: {pieces.PromptTokens} positions fit one piece");
            Assert.Equal(whole.GeneratedIds, pieces.GeneratedIds);
            Parity.AssertClose(pieceLogits, wholeLogits, 1e-5, $"{caseName} step logits, {piece} positions at a time against the whole prompt");
            var sequences = Parity.Ids(fx.Generate.Read($"{caseName}.sequences"));
            Assert.Equal(sequences.Skip(sequences.Length - 20).Select(i => (int)i), pieces.GeneratedIds);
            Parity.AssertClose(pieceLogits, fx.Generate.Read($"{caseName}.step_logits"), 1e-3, $"{caseName} step logits, {piece} positions at a time");
        }
    }

    [Fact]
    public void Logits_from_our_own_decoding_of_the_png_and_the_jpeg_match_the_reference()
    {
        var (png, _, _) = fx.Pad.PromptLogits(new MultimodalPrompt(fx.Prompt("p1"), [LlavaTinyFixture.ImageFile("img0")]));
        Parity.AssertClose(png, fx.Logits.Read("p1.img0.pad.logits").squeeze(0), 1e-4, "p1 img0 from PNG");
        var (jpeg, _, _) = fx.Pad.PromptLogits(new MultimodalPrompt(fx.Prompt("p2"), [LlavaTinyFixture.ImageFile("img1")]));
        // The JPEG decoder gives libjpeg-turbo's pixels, as Pillow's: the same logits as from the reference's own pixels.
        Parity.AssertClose(jpeg, fx.Logits.Read("p2.img1.pad.logits").squeeze(0), 1e-4, "p2 img1 from JPEG");
        png.Dispose();
        jpeg.Dispose();
    }

    [Fact]
    public void Generation_with_reference_pixels_of_the_jpeg_matches_the_reference_ids()
    {
        var result = fx.Pad.Generate(new MultimodalPrompt(fx.Prompt("p2"), [fx.ReferencePixels("img1.pad")]), new GenerationOptions { MaxNewTokens = 20 });
        var sequences = Parity.Ids(fx.Generate.Read("p2.img1.pad.sequences"));
        Assert.Equal(sequences.Skip(sequences.Length - 20).Select(i => (int)i), result.GeneratedIds);
    }

    [Fact]
    public void Batched_left_padded_generation_matches_the_reference_and_single_runs()
    {
        var rows = new[]
        {
            new MultimodalPrompt(fx.Prompt("p2"), [fx.ReferencePixels("img1.pad")]),
            new MultimodalPrompt(fx.Prompt("p1"), [fx.ReferencePixels("img0.pad")]),
        };
        var results = fx.Pad.GenerateBatch(rows, new GenerationOptions { MaxNewTokens = 10 });
        var expected = fx.Batch.Read("generate_sequences");
        for (int r = 0; r < 2; r++)
            Assert.Equal(Parity.Ids(expected[r]).Skip(153).Select(i => (int)i), results[r].GeneratedIds);
        var single = fx.Pad.Generate(rows[1], new GenerationOptions { MaxNewTokens = 10 });
        Assert.Equal(single.GeneratedIds, results[1].GeneratedIds);
    }

    [Fact]
    public void Placeholder_and_input_counts_must_agree()
    {
        var e = Assert.Throws<LlavaModalException>(() => fx.Pad.Generate(new MultimodalPrompt(fx.Prompt("p1"), [LlavaTinyFixture.ImageFile("img0"), LlavaTinyFixture.ImageFile("img2")])));
        Assert.Contains("1 <image> placeholder but 2 image inputs", e.Message);
        var none = Assert.Throws<LlavaModalException>(() => fx.Pad.Generate(new MultimodalPrompt(fx.Prompt("p1"), [])));
        Assert.Contains("1 <image> placeholder but 0 image inputs", none.Message);
    }

    [Fact]
    public void Chat_prepends_the_image_placeholder_on_its_own_line_like_llava()
    {
        var rendered = fx.Pad.RenderChat([new ChatTurn(TurnRole.User, "Describe this picture in detail.")], [LlavaTinyFixture.ImageFile("img0")]);
        Assert.Equal(fx.Prompt("p1"), rendered.Text);
        var explicitPlace = fx.Pad.RenderChat([new ChatTurn(TurnRole.User, "What is unusual about this image? <image>\nAnswer in one sentence, please.")], [LlavaTinyFixture.ImageFile("img1")]);
        Assert.Equal(fx.Prompt("p2"), explicitPlace.Text);
    }

    [Fact]
    public void Several_images_are_spliced_in_prompt_order()
    {
        var a = fx.ReferencePixels("img0.pad");
        var b = fx.ReferencePixels("img1.pad");
        var prompt = "USER: <image> and <image>\nCompare. ASSISTANT:";
        using var ab = fx.Pad.InputsEmbeds(new MultimodalPrompt(prompt, [a, b]));
        using var ba = fx.Pad.InputsEmbeds(new MultimodalPrompt(prompt, [b, a]));
        using var single = fx.Pad.InputsEmbeds(new MultimodalPrompt("<image>", [a]));
        var ids = fx.Pad.Tokenizer.Encode(prompt);
        int first = ids.ToList().IndexOf(510);
        Assert.Equal(ids.Count - 2 + 2 * 576, ab.shape[0]);
        Assert.True(ab.narrow(0, first, 576).allclose(single.narrow(0, 1, 576)));
        Assert.False(ab.narrow(0, first, 576).allclose(ba.narrow(0, first, 576)));
    }

    [Fact]
    public void Unreadable_image_is_a_clear_error_naming_it()
    {
        var bad = new ModalityInput(new byte[] { 1, 2, 3, 4, 5 }, "image/png", "broken.png") { Modality = "image" };
        var e = Assert.ThrowsAny<LlavaModalException>(() => fx.Pad.Generate(new MultimodalPrompt(fx.Prompt("p1"), [bad])));
        Assert.Contains("broken.png", e.Message);
    }
}
