using LlavaModal.Abstractions.Vision;
using LlavaModal.Cli.Toy;
using LlavaModal.Decoder.Llama;
using LlavaModal.Encoders.Vision.Clip;
using LlavaModal.Training.Data;
using LlavaModal.Training.Modeling;

namespace LlavaModal.Tests.Training;

/// <summary>Tiny random LLaVA models and data for the training tests.</summary>
static class TrainingTestModels
{
    public static ClipVisionConfig Vision(int size = 32) => new()
    {
        HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 2, ImageSize = size, PatchSize = 8, HiddenAct = "gelu",
    };

    public static LlamaConfig Text() => new()
    {
        VocabSize = 512, HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 2, NumKeyValueHeads = 2, HeadDim = 16,
        RmsNormEps = 1e-5, MaxPositionEmbeddings = 512, PadTokenId = 511,
    };

    public static LlavaTrainingModel Create(long seed = 0) =>
        LlavaTrainingModel.Create(Vision(), Text(), new FeatureSelection([-1], "default"), seed: seed);

    /// <summary>Short conversations (a short system sentence keeps sequences small) about synthetic scenes, with one text-only sample.</summary>
    public static (List<LlavaSample> Samples, string Images) Data(string directory, int count, int seed = 1)
    {
        var output = Curriculum.Write(directory, count, seed, imageSize: 32);
        return (output.Stage2.ToList(), output.ImageFolder);
    }
}
