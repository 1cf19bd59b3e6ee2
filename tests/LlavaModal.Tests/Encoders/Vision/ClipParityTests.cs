using LlavaModal.Abstractions.Configuration;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Modules;
using LlavaModal.Encoders.Vision.Clip;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal.Loading;
using LlavaModal.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Encoders.Vision;

public sealed class LlavaTinyVisionFixture : IDisposable
{
    public LlavaTinyVisionFixture()
    {
        Json = JsonConfig.Load(Path.Combine(Fixtures.LlavaTinyA, "config.json"));
        using var checkpoint = SafeTensorsCheckpoint.Open(Fixtures.LlavaTinyA);
        Tower = (ClipVisionModel)LlavaVisionTower.Load(Json, checkpoint, BuiltInArchitectures.Catalog, TestBuild.Float32);
        Projector = Projectors.Create("mlp2x_gelu", 32, 64, "gelu");
        StateDictLoader.Load(Projector, checkpoint, "multi_modal_projector.");
        Projector.eval();
        Vision = SafeTensorsFile.Open(Path.Combine(Fixtures.LlavaTinyA, "expected", "vision.safetensors"));
        Preprocess = SafeTensorsFile.Open(Path.Combine(Fixtures.LlavaTinyA, "expected", "preprocess.safetensors"));
    }

    public JsonConfig Json { get; }
    public ClipVisionModel Tower { get; }
    public ProjectorModule Projector { get; }
    public SafeTensorsFile Vision { get; }
    public SafeTensorsFile Preprocess { get; }

    static readonly float[] Mean = [0.48145466f, 0.4578275f, 0.40821073f];
    static readonly float[] Std = [0.26862954f, 0.26130258f, 0.27577711f];

    /// <summary>README step 4: rescale in float64, round to float32, normalise in float32, HWC → [1, C, H, W].</summary>
    public Tensor PixelValuesFromCrop(string key)
    {
        using var scope = NewDisposeScope();
        var u8 = Preprocess.Read($"{key}.crop_u8");
        var rescaled = (u8.to(ScalarType.Float64) * 0.00392156862745098).to(ScalarType.Float32);
        var normalised = (rescaled - tensor(Mean)) / tensor(Std);
        return normalised.permute(2, 0, 1).unsqueeze(0).contiguous().MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        Tower.Dispose();
        Projector.Dispose();
        Vision.Dispose();
        Preprocess.Dispose();
    }
}

public class ClipParityTests(LlavaTinyVisionFixture fx, ITestOutputHelper output) : IClassFixture<LlavaTinyVisionFixture>
{
    const double Tolerance = 1e-4;

    void AssertClose(Tensor ours, Tensor reference, string what)
    {
        output.WriteLine($"{what}: relative error {Parity.RelativeError(ours, reference):E3}");
        Parity.AssertClose(ours, reference, Tolerance, what);
    }

    [Fact]
    public void Config_fills_class_defaults_for_keys_the_llava_config_omits()
    {
        var c = fx.Tower.Config;
        Assert.Equal((32, 64, 3, 2, 336, 14), (c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.NumAttentionHeads, c.ImageSize, c.PatchSize));
        Assert.Equal((3, "quick_gelu", 1e-5), (c.NumChannels, c.HiddenAct, c.LayerNormEps));
        Assert.Equal((576, 577, 16), (c.NumPatches, c.NumPositions, c.HeadDim));
        Assert.Equal(new[] { -2 }, fx.Tower.Selection.Layers);
        Assert.Equal("default", fx.Tower.Selection.Strategy);
        Assert.Equal((576, 32), (fx.Tower.TokenCount, fx.Tower.OutputWidth));
    }

    [Fact]
    public void All_hidden_states_match_the_reference()
    {
        using var scope = NewDisposeScope();
        var states = fx.Tower.HiddenStates(fx.Preprocess.Read("img0.pad.pixel_values"));
        Assert.Equal(4, states.Count);
        for (int i = 0; i < states.Count; i++)
            AssertClose(states[i], fx.Vision.Read($"img0.pad.vision_hidden_states.{i}"), $"hidden state {i}");
    }

    [Theory]
    [InlineData("img0.pad")]
    [InlineData("img1.pad")]
    [InlineData("img0.plain")]
    public void Selected_features_and_projection_match_for_reference_pixel_values(string key) =>
        CheckFeatures(key, fx.Preprocess.Read($"{key}.pixel_values"));

    [Theory]
    [InlineData("img2.pad")]
    [InlineData("img3.pad")]
    [InlineData("img4.pad")]
    public void Selected_features_and_projection_match_for_pixel_values_computed_from_the_crop(string key) =>
        CheckFeatures(key, fx.PixelValuesFromCrop(key));

    [Theory]
    [InlineData("img0.pad")]
    [InlineData("img1.pad")]
    [InlineData("img0.plain")]
    public void Crop_normalisation_reproduces_the_reference_pixel_values_exactly(string key)
    {
        using var scope = NewDisposeScope();
        Assert.True(fx.PixelValuesFromCrop(key).eq(fx.Preprocess.Read($"{key}.pixel_values")).all().item<bool>());
    }

    void CheckFeatures(string key, Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var features = fx.Tower.SelectFeatures(pixelValues);
        Assert.Equal(new long[] { 1, 576, 32 }, features.shape);
        AssertClose(features, fx.Vision.Read($"{key}.selected_features"), $"{key} selected features");
        AssertClose(fx.Projector.Project(features), fx.Vision.Read($"{key}.projected"), $"{key} projected");
    }
}
