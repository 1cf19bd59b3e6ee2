using System.Text.Json;
using LlavaModal.Core.Checkpoints;

namespace LlavaModal.Multimodal.Loading;

/// <summary>
/// Writes a model folder derived from another (quantized, adapter merged): every file of the source is copied except its
/// weights and <c>config.json</c>, which the caller writes; on failure only what this wrote is removed, so a folder that
/// held files before is left as it was.
/// </summary>
static class DerivedFolder
{
    /// <summary>Copies the source's other files into <paramref name="output"/> (already checked by <c>OutputPaths.CheckFolder</c>), then runs <paramref name="write"/>.</summary>
    /// <returns>The source's subfolders, which are not copied.</returns>
    public static IReadOnlyList<string> Write(string source, string output, bool overwrite, Action write)
    {
        bool created = !Directory.Exists(output);
        bool wasEmpty = created || !Directory.EnumerateFileSystemEntries(output).Any();
        try
        {
            Directory.CreateDirectory(output);
            var weightFiles = WeightFiles(source);
            foreach (var file in Directory.EnumerateFiles(source))
            {
                var name = Path.GetFileName(file);
                if (name == "config.json" || weightFiles.Contains(name)) continue;
                File.Copy(file, Path.Combine(output, name), overwrite);
            }
            write();
            return Directory.EnumerateDirectories(source).Select(d => Path.GetFileName(d)).ToList();
        }
        catch
        {
            try
            {
                if (created) Directory.Delete(output, true);
                else if (wasEmpty)
                    foreach (var entry in Directory.EnumerateFileSystemEntries(output).ToList())
                        if (Directory.Exists(entry)) Directory.Delete(entry, true); else File.Delete(entry);
            }
            catch (IOException) { }
            throw;
        }
    }

    /// <summary>The weight files of a folder: the single file, or the index and every shard it names.</summary>
    public static HashSet<string> WeightFiles(string directory)
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
}
