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
/// Converts a model folder once into one whose decoder projections are stored packed (<see cref="PackedTensors"/>):
/// loading it needs no quantization step and reads a quarter (int8) or an eighth (int4) of the f32 bytes. Every other
/// tensor (embeddings, norms, <c>lm_head</c>, vision tower, projector) and every other file is copied as it is.
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
        var output = OutputPaths.CheckFolder(outputDirectory, [modelDirectory], overwrite, "--out");
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
                var values = new TensorSpec(layer + PackedTensors.Values, [matrix.Rows, matrix.RowBytes], PackedTensors.StoredType(format));
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

        bool created = !System.IO.Directory.Exists(output);
        bool wasEmpty = created || !System.IO.Directory.EnumerateFileSystemEntries(output).Any();
        var skipped = new List<string>();
        try
        {
            System.IO.Directory.CreateDirectory(output);
            var weightFiles = WeightFiles(modelDirectory);
            foreach (var file in System.IO.Directory.EnumerateFiles(modelDirectory))
            {
                var name = Path.GetFileName(file);
                if (name == "config.json" || weightFiles.Contains(name)) continue;
                File.Copy(file, Path.Combine(output, name), overwrite);
            }
            skipped.AddRange(System.IO.Directory.EnumerateDirectories(modelDirectory).Select(d => Path.GetFileName(d)));
            var target = Path.Combine(output, SafeTensorsCheckpoint.SingleFileName);
            SafeTensorsWriter.Write(target, specs, spec => sources[spec.Name](), new Dictionary<string, string> { ["format"] = "pt" });

            var configPath = Path.Combine(modelDirectory, "config.json");
            var root = JsonNode.Parse(File.ReadAllText(configPath), documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip })!.AsObject();
            root[PackedTensors.ConfigKey] = new JsonObject
            {
                ["quant_method"] = PackedTensors.Method,
                ["format"] = format.Name(),
                ["block_size"] = WeightFormats.BlockSize,
            };
            File.WriteAllText(Path.Combine(output, "config.json"), root.ToJsonString(Indented) + "\n");
            long before = weightFiles.Sum(f => new FileInfo(Path.Combine(modelDirectory, f)).Length);
            return new QuantizeResult(output, format, packed.Count, before, new FileInfo(target).Length, skipped);
        }
        catch
        {
            // Only what this call wrote is removed: a folder that held files before (overwrite) is left as it is.
            try
            {
                if (created) System.IO.Directory.Delete(output, true);
                else if (wasEmpty)
                    foreach (var entry in System.IO.Directory.EnumerateFileSystemEntries(output).ToList())
                        if (System.IO.Directory.Exists(entry)) System.IO.Directory.Delete(entry, true); else File.Delete(entry);
            }
            catch (IOException) { }
            throw;
        }
    }

    /// <summary>The weight files of a folder: the single file, or the index and every shard it names.</summary>
    static HashSet<string> WeightFiles(string directory)
    {
        var files = new HashSet<string>(StringComparer.Ordinal) { SafeTensorsCheckpoint.SingleFileName };
        var index = Path.Combine(directory, SafeTensorsCheckpoint.IndexFileName);
        if (!File.Exists(index)) return files;
        files.Remove(SafeTensorsCheckpoint.SingleFileName);
        files.Add(SafeTensorsCheckpoint.IndexFileName);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(index));
        foreach (var entry in doc.RootElement.GetProperty("weight_map").EnumerateObject()) files.Add(entry.Value.GetString()!);
        return files;
    }

    static Tensor FromBytes(TensorSpec spec, Span<byte> bytes)
    {
        var tensor = empty(spec.Shape, spec.Type);
        tensor.bytes = bytes;
        return tensor;
    }
}
