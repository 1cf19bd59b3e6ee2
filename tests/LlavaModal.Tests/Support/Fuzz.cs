using System.Diagnostics;
using System.Text;
using Xunit.Abstractions;

namespace LlavaModal.Tests.Support;

/// <summary>Outcome counts of a fuzz run, by category ("accepted", or the refusing exception's type).</summary>
public sealed class FuzzReport(string name)
{
    readonly SortedDictionary<string, int> counts = new(StringComparer.Ordinal);

    public string Name { get; } = name;

    public IReadOnlyDictionary<string, int> Counts => counts;

    public int Total => counts.Values.Sum();

    public void Add(string category) => counts[category] = counts.GetValueOrDefault(category) + 1;

    public override string ToString() => $"fuzz {Name}: {Total} cases: " + string.Join(", ", counts.Select(kv => $"{kv.Key} {kv.Value}"));
}

/// <summary>
/// A deterministic, bounded fuzzer: seeded mutations of a valid input, each run under a per-case timeout; every case must
/// end as "accepted" (the run's own checks passing, e.g. equal tensors) or with one of the allowed typed exceptions.
/// Anything else (an untyped exception, a native fault surfacing as one, a hang) fails the test naming the case.
/// </summary>
public static class Fuzz
{
    /// <summary>Runs <paramref name="cases"/> cases; <paramref name="run"/> returns for an accepted input and throws for a refused one.</summary>
    public static FuzzReport Run(string name, int seed, int cases, TimeSpan perCase, Func<Random, int, byte[]> makeCase, Action<byte[]> run,
        ITestOutputHelper? output, params Type[] allowed)
    {
        var report = new FuzzReport(name);
        var random = new Random(seed);
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < cases; i++)
        {
            var input = makeCase(random, i);
            var task = Task.Run(() => run(input));
            bool finished;
            try { finished = task.Wait(perCase); }
            catch (AggregateException e) when (e.InnerException is { } inner)
            {
                if (!allowed.Any(t => t.IsInstanceOfType(inner)))
                    throw new Xunit.Sdk.XunitException($"fuzz {name} case {i} (seed {seed}): untyped {inner.GetType().FullName}: {inner.Message}\n{Describe(input)}\n{inner}");
                if (string.IsNullOrWhiteSpace(inner.Message) || inner.Message.Length < 10)
                    throw new Xunit.Sdk.XunitException($"fuzz {name} case {i}: an unclear message '{inner.Message}'.");
                report.Add(inner.GetType().Name);
                continue;
            }
            if (!finished) throw new Xunit.Sdk.XunitException($"fuzz {name} case {i} (seed {seed}) did not finish within {perCase.TotalSeconds} s: a hang.\n{Describe(input)}");
            report.Add("accepted");
        }
        output?.WriteLine($"{report} in {clock.Elapsed.TotalSeconds:F1} s");
        Console.WriteLine($"{report} in {clock.Elapsed.TotalSeconds:F1} s");
        return report;
    }

    static string Describe(byte[] input) => input.Length <= 600 ? "input: " + Encoding.Latin1.GetString(input) : $"input: {input.Length} bytes";

    /// <summary>Random edits: bit flips, byte overwrites, insertions, deletions, truncation, duplication of a range.</summary>
    public static byte[] Mutate(Random random, byte[] original, int from = 0, int? to = null)
    {
        var data = new List<byte>(original);
        int end = Math.Min(to ?? data.Count, data.Count);
        int edits = 1 + random.Next(4);
        for (int e = 0; e < edits && end > from; e++)
        {
            int at = random.Next(from, end);
            switch (random.Next(6))
            {
                case 0: data[at] ^= (byte)(1 << random.Next(8)); break;
                case 1: data[at] = (byte)random.Next(256); break;
                case 2: data.Insert(at, (byte)random.Next(256)); end++; break;
                case 3: data.RemoveAt(at); end--; break;
                case 4: data.RemoveRange(at, data.Count - at); end = Math.Min(end, data.Count); break;
                default:
                    int len = Math.Min(1 + random.Next(16), end - at);
                    data.InsertRange(at, data.GetRange(at, len));
                    end += len;
                    break;
            }
        }
        return [.. data];
    }
}
