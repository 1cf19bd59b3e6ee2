using LlavaModal.Abstractions.Configuration;

namespace LlavaModal.Multimodal.Loading;

/// <summary>End-of-sequence and padding ids, from <c>generation_config.json</c> first, then the model config, then the tokenizer, as the reference's <c>generate</c> resolves them.</summary>
sealed record GenerationDefaults(IReadOnlyList<int> EosTokenIds, int PadTokenId)
{
    public static GenerationDefaults Resolve(string directory, IReadOnlyList<int> configEos, int? configPad, int? tokenizerEos, int? tokenizerPad)
    {
        IReadOnlyList<int> eos = configEos;
        int? pad = configPad;
        var path = Path.Combine(directory, "generation_config.json");
        if (File.Exists(path))
        {
            var json = JsonConfig.Load(path);
            var fromFile = json.IntOrList("eos_token_id");
            if (fromFile.Count > 0) eos = fromFile;
            pad = json.OptionalInt("pad_token_id") ?? pad;
        }
        if (eos.Count == 0 && tokenizerEos is int t) eos = [t];
        return new GenerationDefaults(eos, pad ?? tokenizerPad ?? (eos.Count > 0 ? eos[0] : 0));
    }
}
