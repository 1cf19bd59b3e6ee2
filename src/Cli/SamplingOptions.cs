using System.CommandLine;
using LlavaModal.Decoder.Generation;

namespace LlavaModal.Cli;

/// <summary>The generation options shared by the commands that generate.</summary>
sealed class SamplingOptions
{
    readonly Option<int> maxNewTokens = new("--max-new-tokens") { Description = "Maximum tokens to generate.", DefaultValueFactory = _ => 128 };
    readonly Option<float> temperature = new("--temperature") { Description = "0 is greedy; above 0 samples.", DefaultValueFactory = _ => 0f };
    readonly Option<float> topP = new("--top-p") { Description = "Nucleus sampling threshold (1 = off).", DefaultValueFactory = _ => 1f };
    readonly Option<int> topK = new("--top-k") { Description = "Keep the k most likely tokens (0 = off).", DefaultValueFactory = _ => 0 };
    readonly Option<float> minP = new("--min-p") { Description = "Drop tokens below this fraction of the top probability (0 = off).", DefaultValueFactory = _ => 0f };
    readonly Option<float> repetitionPenalty = new("--repetition-penalty") { Description = "Penalty on repeated tokens (1 = off).", DefaultValueFactory = _ => 1f };
    readonly Option<long?> seed = new("--seed") { Description = "Seed for reproducible sampling." };
    readonly Option<string[]> stop = new("--stop") { Description = "Stop when the output contains this text (repeatable)." };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { maxNewTokens, temperature, topP, topK, minP, repetitionPenalty, seed, stop })
            command.Options.Add(option);
    }

    public GenerationOptions Read(ParseResult parse)
    {
        var options = new GenerationOptions
        {
            MaxNewTokens = parse.GetValue(maxNewTokens),
            Temperature = parse.GetValue(temperature),
            TopP = parse.GetValue(topP),
            TopK = parse.GetValue(topK),
            MinP = parse.GetValue(minP),
            RepetitionPenalty = parse.GetValue(repetitionPenalty),
            Seed = parse.GetValue(seed),
            StopStrings = parse.GetValue(stop) ?? [],
        };
        try { options.Validate(); }
        catch (ArgumentOutOfRangeException e) { throw new ArgumentException($"--{Kebab(e.ParamName)}: {e.Message.Split(" (Parameter")[0]}", e); }
        return options;
    }

    static string Kebab(string? name) => string.Concat((name ?? "").Select((c, i) => char.IsUpper(c) ? (i > 0 ? "-" : "") + char.ToLowerInvariant(c) : c.ToString()));
}
