using System.Diagnostics;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Core.Attention;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Kernels;
using LlavaModal.Core.Modules;
using LlavaModal.Core.Quantization;
using LlavaModal.Encoders.Vision.Clip;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Multimodal;
using static TorchSharp.torch;

namespace LlavaModal.Benchmarks;

/// <summary>
/// <c>vision</c>: time per image for decoding + preprocessing, the CLIP tower and the projector, on the llava-tiny-a
/// fixture and on a randomly initialised tower of CLIP ViT-L/14-336's shape with llava-1.5-7b's projector (1024 → 4096).
/// </summary>
static class VisionBenchmark
{
    public static int Run(BenchArgs args)
    {
        int warmup = args.Int("--warmup", 1);
        int reps = args.Int("--reps", 5, min: 1);
        int threads = args.Int("--threads", 0);
        bool skipLarge = args.Flag("--skip-large");
        args.RejectUnknown();
        if (threads > 0) set_num_threads(threads);
        var root = Report.RepositoryRoot();
        var images = new[] { "gradient_640x480.png", "portrait_200x300.jpg" }
            .Select(f => ModalityInput.FromFile(Path.Combine(root, "tests", "fixtures", "images", f), "image")).ToList();

        var rows = new List<string[]>();
        using (var tiny = MultimodalModel.Load(Path.Combine(root, "tests", "fixtures", "llava-tiny-a"), [new LlavaVisionFactory()]))
        {
            var binding = tiny.Modalities.Single();
            foreach (var image in images)
                rows.Add(Measure("llava-tiny-a (hidden 32, 3 layers)", image, binding.Encoder, binding.Projector, warmup, reps));
        }
        if (!skipLarge)
        {
            var config = new ClipVisionConfig { HiddenSize = 1024, IntermediateSize = 4096, NumHiddenLayers = 24, NumAttentionHeads = 16, ImageSize = 336, PatchSize = 14 };
            using var tower = new ClipVisionModel(config, new FeatureSelection([-2]));
            tower.eval();
            using var projector = Projectors.Create("mlp2x_gelu", 1024, 4096);
            var processor = new ClipImageProcessor(new ImageProcessorConfig { ShortestEdge = 336, CropHeight = 336, CropWidth = 336 });
            using var encoder = new LlavaImageEncoder(tower, processor);
            foreach (var image in images)
                rows.Add(Measure("ViT-L/14-336 + mlp2x_gelu 1024→4096 (random)", image, encoder, projector, warmup, reps));
            // The same weights as a weight format loads them for encoders: every linear layer packed in f32 (tiled product).
            var folder = Directory.CreateTempSubdirectory("llavamodal-vision-bench").FullName;
            try
            {
                var tensors = tower.state_dict().Select(p => new KeyValuePair<string, Tensor>($"tower.{p.Key}", p.Value))
                    .Concat(projector.state_dict().Select(p => new KeyValuePair<string, Tensor>($"projector.{p.Key}", p.Value)));
                SafeTensorsWriter.Write(Path.Combine(folder, "model.safetensors"), tensors);
                var build = new ModelBuildContext(ScalarType.Float32, CPU, new PackedLinearFactory(WeightFormat.F32).ForEncoders(ScalarType.Float32), new EagerAttention());
                using var packedTower = new ClipVisionModel(config, new FeatureSelection([-2]), build);
                using var packedProjector = Projectors.Create("mlp2x_gelu", 1024, 4096, linear: build.Linear);
                using (var checkpoint = SafeTensorsCheckpoint.Open(folder))
                {
                    StateDictLoader.Load(packedTower, checkpoint, "tower.");
                    StateDictLoader.Load(packedProjector, checkpoint, "projector.");
                }
                packedTower.eval();
                using var packedEncoder = new LlavaImageEncoder(packedTower, processor);
                foreach (var image in images)
                    rows.Add(Measure("same, packed f32 (a weight format's encoders)", image, packedEncoder, packedProjector, warmup, reps));
            }
            finally
            {
                Directory.Delete(folder, true);
            }
        }
        Console.WriteLine($"vision: per image, {warmup} warm-up + {reps} runs, median ms; {Report.Machine()}");
        Report.Table(["tower", "image", "decode + preprocess", "tower", "projector", "total"], rows);
        return 0;
    }

    static string[] Measure(string name, ModalityInput image, IModalityEncoder encoder, IProjector projector, int warmup, int reps)
    {
        var prep = new List<double>();
        var tower = new List<double>();
        var proj = new List<double>();
        using var _ = no_grad();
        for (int i = 0; i < warmup + reps; i++)
        {
            using var scope = NewDisposeScope();
            var clock = Stopwatch.StartNew();
            using var prepared = encoder.Prepare(image);
            var t0 = clock.Elapsed.TotalMilliseconds;
            var features = encoder.Encode(prepared, CPU);
            var t1 = clock.Elapsed.TotalMilliseconds;
            var projected = projector.Project(features);
            var t2 = clock.Elapsed.TotalMilliseconds;
            if (i < warmup) continue;
            prep.Add(t0);
            tower.Add(t1 - t0);
            proj.Add(t2 - t1);
        }
        var total = Report.Median(prep) + Report.Median(tower) + Report.Median(proj);
        return [name, Path.GetFileName(image.Source ?? "?"), Report.F(Report.Median(prep)), Report.F(Report.Median(tower)), Report.F(Report.Median(proj)), Report.F(total)];
    }
}
