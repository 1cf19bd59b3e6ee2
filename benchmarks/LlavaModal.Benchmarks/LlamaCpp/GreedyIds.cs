using LlavaModal.Abstractions.Tensors;
using LlavaModal.Core.Kernels;
using LlavaModal.Multimodal;
using static TorchSharp.torch;

namespace LlavaModal.Benchmarks.LlamaCpp;

/// <summary>
/// Hidden mode <c>greedy-ids DIR --ids 1,72,... [--new-tokens 16] [--format f32]</c>: greedy continuation of the given ids
/// over the whole vocabulary (no tokenizer involved, no mask), printed as ids, to compare with llama.cpp's greedy output
/// on the exported GGUF (<c>llama-cli --temp 0</c>; its synthetic tokens print as <c>t{id}</c>). Recomputes the
/// sequence each step: a check of the function, not of speed.
/// </summary>
static class GreedyIds
{
    public const string Mode = "greedy-ids";

    public static int Run(BenchArgs args)
    {
        var ids = args.Ints("--ids", "1").Select(i => (long)i).ToList();
        int newTokens = args.Int("--new-tokens", 16, min: 1);
        var format = args.String("--format", "") is { Length: > 0 } f ? WeightFormats.Parse(f) ?? throw new ArgumentException($"--format: '{f}' is not a weight format.") : (WeightFormat?)null;
        args.RejectUnknown();
        if (args.Positional.Count != 1) throw new ArgumentException($"{Mode} needs exactly one checkpoint folder.");
        using var lm = LanguageModel.Load(args.Positional[0], new ModelLoadOptions { Weights = format });
        using var noGrad = no_grad();
        var generated = new List<long>();
        for (int step = 0; step < newTokens; step++)
        {
            using var scope = NewDisposeScope();
            var input = tensor(ids.ToArray()).unsqueeze(0);
            var logits = lm.Decoder.Forward(lm.Decoder.Embed(input), Scalars.Arange(0, ids.Count).unsqueeze(0));
            var last = logits.select(1, ids.Count - 1).squeeze(0);
            var top = last.topk(2);
            long next = top.indexes[0].item<long>();
            float margin = top.values[0].item<float>() - top.values[1].item<float>();
            Console.Error.WriteLine($"step {step}: id {next}, margin over the runner-up {margin:G3}");
            generated.Add(next);
            ids.Add(next);
        }
        Console.WriteLine(string.Join(' ', generated));
        return 0;
    }
}
