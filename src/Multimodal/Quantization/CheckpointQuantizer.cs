using System.Text.Json;
using System.Text.Json.Nodes;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.IO;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Kernels;
using LlavaModal.Core.Quantization;
using LlavaModal.Multimodal.Loading;
using static TorchSharp.torch;

namespace LlavaModal.Multimodal.Quantization;

/// <summary>What <see cref="CheckpointQuantizer.Quantize"/> wrote.</summary>
/// <param name="Directory">The new folder.</param>
/// <param name="Format">The weight format of the decoder's projections.</param>
/// <param name="PackedLayers">Linear layers stored packed.</param>
/// <param name="BytesBefore">Bytes of the source weights.</param>
/// <param name="BytesAfter">Bytes of the written weights.</param>
/// <param name="SkippedDirectories">Subfolders of the model folder that were not copied.</param>
public sealed record QuantizeResult(string Directory, WeightFormat Format, int PackedLayers, long BytesBefore, long BytesAfter, IReadOnlyList<string> SkippedDirectories);

/// <summary>
/// Converts a model folder once into one whose decoder projections are stored packed (<see cref="PackedTensors"/>),
/// and an untied <c>lm_head</c> as int8: loading it needs no quantization step and reads a quarter (int8) or an eighth
/// (int4) of the f32 bytes. Every other tensor (embeddings, norms, vision tower, projector) and every other file is
/// copied as it is.
/// </summary>
public static class CheckpointQuantizer
{
    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Writes <paramref name="outputDirectory"/> (new or empty, unless <paramref name="overwrite"/>) from <paramref name="modelDirectory"/>.</summary>
    /// <exception cref="ArgumentException">A format that is not stored packed (int8, int4), or an output folder that is refused (see <see cref="OutputPaths.CheckFolder"/>).</exception>
    /// <exception cref="CheckpointException">The model folder cannot be read, or is already quantized.</exception>
    public static QuantizeResult Quantize(string modelDirectory, string outputDirectory, WeightFormat format, bool overwrite = false)
    {
        if (!format.IsQuantized()) throw new ArgumentException($"Only int8 and int4 are stored packed; {format.Name()} is chosen at load time (--weights {format.Name()}).", nameof(format));
        // An adapter folder quantizes its base with the adapter merged in: the base is an input too. Checked before anything loads.
        var output = OutputPaths.CheckFolder(outputDirectory,
            [modelDirectory, ModelFolder.IsAdapterOnly(modelDirectory) ? ModelFolder.AdapterBase(modelDirectory) : null], overwrite, "--out");
        using var folder = ModelFolder.Open(modelDirectory);
        if (folder.StoredWeightFormat() is { } stored)
            throw new CheckpointException(modelDirectory, $"the weights are already packed ({stored.Name()}); quantize the original checkpoint instead.");
        var options = new ModelLoadOptions { Weights = format };
        var (family, config) = folder.ReadDecoderConfig(options.Catalog);
        var build = options.BuildContext(folder.ComputeDType(options.DType, config));
        using var decoder = folder.LoadDecoder(family, config, build);
        var layout = DecoderWeightLayout.Detect(folder.Weights, family.ProbeTensor);
        var packed = decoder.named_modules()
            .Where(m => m.Item2 is PackedLinear { Format: var f } && f.IsQuantized())
            .ToDictionary(m => layout.ToCheckpointName(m.Item1 + ".weight"), m => ((PackedLinear)m.Item2).Weight, StringComparer.Ordinal);

        var specs = new List<TensorSpec>();
        var sources = new Dictionary<string, Func<Tensor>>(StringComparer.Ordinal);
        var weights = folder.Weights;
        foreach (var name in weights.Names.Order(StringComparer.Ordinal))
        {
            if (packed.TryGetValue(name, out var matrix))
            {
                var layer = name[..^"weight".Length];
                var values = new TensorSpec(layer + PackedTensors.Values, [matrix.Rows, matrix.RowBytes], PackedTensors.StoredType(matrix.Format));
                var scales = new TensorSpec(layer + PackedTensors.Scales, [matrix.Rows, matrix.ScalesPerRow], ScalarType.Float16);
                specs.Add(values);
                specs.Add(scales);
                sources[values.Name] = () => FromBytes(values, matrix.Data);
                sources[scales.Name] = () => FromBytes(scales, System.Runtime.InteropServices.MemoryMarshal.AsBytes(matrix.Scales));
                continue;
            }
            var type = weights.StoredType(name) ?? throw new CheckpointException(modelDirectory, $"tensor '{name}' has a type this build cannot copy.");
            specs.Add(new TensorSpec(name, [.. weights.Shape(name)], type));
            sources[name] = () => weights.Read(name);
        }

        var target = Path.Combine(output, SafeTensorsCheckpoint.SingleFileName);
        var skipped = DerivedFolder.Write(folder.Directory, output, overwrite, () =>
        {
            SafeTensorsWriter.Write(target, specs, spec => sources[spec.Name](), new Dictionary<string, string> { ["format"] = "pt" });
            var configPath = Path.Combine(folder.Directory, "config.json");
            var root = JsonNode.Parse(File.ReadAllText(configPath), documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip })!.AsObject();
            root[PackedTensors.ConfigKey] = new JsonObject
            {
                ["quant_method"] = PackedTensors.Method,
                ["format"] = format.Name(),
                ["block_size"] = WeightFormats.BlockSize,
            };
            File.WriteAllText(Path.Combine(output, "config.json"), root.ToJsonString(Indented) + "\n");
        });
        long before = DerivedFolder.WeightFiles(folder.Directory).Sum(f => new FileInfo(Path.Combine(folder.Directory, f)).Length);
        return new QuantizeResult(output, format, packed.Count, before, new FileInfo(target).Length, skipped);
    }

    static Tensor FromBytes(TensorSpec spec, Span<byte> bytes)
    {
        var tensor = empty(spec.Shape, spec.Type);
        tensor.bytes = bytes;
        return tensor;
    }
}
