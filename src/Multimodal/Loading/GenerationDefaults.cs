using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;

namespace LlavaModal.Multimodal.Loading;

/// <summary>End-of-sequence and padding ids, from <c>generation_config.json</c> first, then the model config, then the tokenizer, as the reference's <c>generate</c> resolves them.</summary>
sealed record GenerationDefaults(IReadOnlyList<int> EosTokenIds, int PadTokenId)
{
    /// <exception cref="ConfigException">An end-of-sequence or padding id outside [0, <paramref name="vocabSize"/>), naming the file and key it came from.</exception>
    public static GenerationDefaults Resolve(string directory, IReadOnlyList<int> configEos, int? configPad, int? tokenizerEos, int? tokenizerPad, int vocabSize)
    {
        var configPath = Path.Combine(directory, "config.json");
        IReadOnlyList<int> eos = configEos;
        int? pad = configPad;
        string eosFrom = configPath, padFrom = configPath;
        var path = Path.Combine(directory, "generation_config.json");
        if (File.Exists(path))
        {
            var json = JsonConfig.Load(path);
            var fromFile = json.IntOrList("eos_token_id");
            if (fromFile.Count > 0) (eos, eosFrom) = (fromFile, path);
            if (json.OptionalInt("pad_token_id") is int filePad) (pad, padFrom) = (filePad, path);
        }
        if (eos.Count == 0 && tokenizerEos is int t) (eos, eosFrom) = ([t], Path.Combine(directory, "tokenizer files"));
        if (pad is null) (pad, padFrom) = (tokenizerPad ?? (eos.Count > 0 ? eos[0] : 0), tokenizerPad is null ? eosFrom : Path.Combine(directory, "tokenizer files"));
        // An id the embedding table has no row for fails natively when fed back (a finished batch row is fed the pad id).
        foreach (var id in eos)
            if (id < 0 || id >= vocabSize)
                throw new ConfigException(eosFrom, "eos_token_id", $"{id} is outside the model's vocabulary [0, {vocabSize}).");
        if (pad < 0 || pad >= vocabSize)
            throw new ConfigException(padFrom, "pad_token_id", $"{pad} is outside the model's vocabulary [0, {vocabSize}).");
        return new GenerationDefaults(eos, pad.Value);
    }
}
