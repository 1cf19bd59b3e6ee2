using System.Globalization;
using System.Text;
using System.Text.Json;

namespace LlavaModal.Benchmarks;

/// <summary>Statistics and output helpers shared by the benchmarks.</summary>
static class Report
{
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        if (sorted.Length == 0) return double.NaN;
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    public static string F(double value, int decimals = 1) => value.ToString("F" + decimals, CultureInfo.InvariantCulture);

    public static string MiB(long bytes) => F(bytes / (1024.0 * 1024.0), 0) + " MiB";

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static string ToJson<T>(T value) => JsonSerializer.Serialize(value, Json);

    /// <summary>Prints rows as an aligned Markdown table (so the output pastes into the README as is).</summary>
    public static void Table(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = new List<IReadOnlyList<string>> { header };
        all.AddRange(rows);
        var widths = header.Select((_, c) => all.Max(r => r[c].Length)).ToArray();
        string Line(IReadOnlyList<string> r) => "| " + string.Join(" | ", r.Select((cell, c) => c == 0 ? cell.PadRight(widths[c]) : cell.PadLeft(widths[c]))) + " |";
        var text = new StringBuilder();
        text.AppendLine(Line(header));
        text.AppendLine("| " + string.Join(" | ", widths.Select((w, c) => c == 0 ? new string('-', w) : new string('-', w - 1) + ":")) + " |");
        foreach (var r in all.Skip(1)) text.AppendLine(Line(r));
        Console.Write(text);
    }

    /// <summary>The repository root (the folder holding LlavaModal.sln), found from the executable's folder.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LlavaModal.sln"))) return dir.FullName;
        throw new ArgumentException("cannot find the repository root (LlavaModal.sln) above " + AppContext.BaseDirectory);
    }

    public static string DefaultCache() => Path.Combine(Path.GetTempPath(), "llavamodal-bench");

    public static string Machine() =>
        $"{Environment.ProcessorCount} cores, {F(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024.0 * 1024 * 1024), 1)} GiB, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, torch threads {TorchSharp.torch.get_num_threads()}, load average {LoadAverage()}";

    /// <summary>The 1-minute load average: on a shared machine, above the core count means the numbers are contended.</summary>
    public static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "n/a";
}
