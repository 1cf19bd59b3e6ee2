using System.Globalization;

namespace LlavaModal.Benchmarks;

/// <summary>Minimal <c>--name value</c> / <c>--flag</c> / positional parsing; unknown options are an error.</summary>
sealed class BenchArgs
{
    readonly Dictionary<string, string?> named = new(StringComparer.Ordinal);
    readonly HashSet<string> read = new(StringComparer.Ordinal);

    public BenchArgs(IReadOnlyList<string> args)
    {
        var positional = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal)) { positional.Add(args[i]); continue; }
            bool hasValue = i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal);
            named[args[i]] = hasValue ? args[++i] : null;
        }
        Positional = positional;
    }

    public IReadOnlyList<string> Positional { get; }

    public bool Flag(string name) { read.Add(name); return named.ContainsKey(name); }

    public string String(string name, string fallback)
    {
        read.Add(name);
        if (!named.TryGetValue(name, out var value)) return fallback;
        return value ?? throw new ArgumentException($"{name} needs a value.");
    }

    public int Int(string name, int fallback, int min = 0)
    {
        var text = String(name, fallback.ToString(CultureInfo.InvariantCulture));
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min)
            throw new ArgumentException($"{name} must be an integer >= {min} (got '{text}').");
        return value;
    }

    public int[] Ints(string name, string fallback) =>
        String(name, fallback).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(t => int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v > 0 ? v
                : throw new ArgumentException($"{name} must be a comma-separated list of positive integers.")).ToArray();

    /// <summary>Throws when an option was given that the benchmark never asked for (typos).</summary>
    /// <summary>A comma-separated list of <c>on</c> / <c>off</c> (an A/B switch measured each way in turn).</summary>
    public List<bool> Switches(string name, string fallback = "on") =>
        String(name, fallback).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(a => a switch { "on" => true, "off" => false, _ => throw new ArgumentException($"{name}: '{a}' is neither on nor off.") }).ToList();

    public void RejectUnknown()
    {
        var unknown = named.Keys.Where(k => !read.Contains(k)).ToList();
        if (unknown.Count > 0) throw new ArgumentException($"unknown option(s): {string.Join(", ", unknown)}.");
    }
}
