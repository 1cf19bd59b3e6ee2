using System.Globalization;
using System.Text.Json.Nodes;
using LlavaModal.Training.Modeling;

namespace LlavaModal.Training.Tokenization;

/// <summary>What <see cref="SentencePieceBpeTrainer.WriteFolder"/> wrote.</summary>
/// <param name="Pieces">Pieces in <c>tokenizer.model</c> (ids 0 to <paramref name="Pieces"/> - 1).</param>
/// <param name="ImageTokenId">Id of the added <c>&lt;image&gt;</c> token (= <paramref name="Pieces"/>).</param>
/// <param name="PadTokenId">Id of the added <c>&lt;pad&gt;</c> token (= <paramref name="Pieces"/> + 1).</param>
public sealed record TrainedTokenizer(int Pieces, int ImageTokenId, int PadTokenId)
{
    /// <summary>Rows the embedding table needs: every piece and both added tokens.</summary>
    public int VocabSize => PadTokenId + 1;
}

/// <summary>
/// Trains a SentencePiece-style BPE vocabulary on a text corpus, as a language model's own tokenizer is trained on
/// its pretraining text: words are whitespace-delimited with the space folded into a leading <c>▁</c>, the most
/// frequent adjacent pair is merged until no pair occurs <c>minFrequency</c> times or the vocabulary is full, and 256
/// byte pieces make any other text encodable (byte fallback). The toy model uses it because the llava-hf test
/// tokenizer (510 pieces) splits every curriculum word into 3-6 pieces, which made questions and answers several
/// tokens long. Written by hand because no .NET library trains SentencePiece models; the output is an ordinary
/// <c>tokenizer.model</c> that <c>HfTokenizer</c>, Microsoft.ML.Tokenizers and SentencePiece read.
/// </summary>
public static class SentencePieceBpeTrainer
{
    const string Space = "\u2581";
    static readonly string[] Specials = ["<image>", "<pad>", "<unk>", "<s>", "</s>"];

    /// <summary>Trains the vocabulary: <c>&lt;unk&gt;</c>, <c>&lt;s&gt;</c>, <c>&lt;/s&gt;</c>, 256 byte pieces, merged pieces (score -rank), then single characters.</summary>
    /// <param name="texts">The corpus; special-token strings in it are skipped.</param>
    /// <param name="maxPieces">Largest vocabulary (at least the 259 fixed pieces plus the corpus' characters).</param>
    /// <param name="minFrequency">A pair is merged only if it occurs at least this many times.</param>
    public static IReadOnlyList<SentencePiece> Train(IEnumerable<string> texts, int maxPieces = 1024, int minFrequency = 2)
    {
        var words = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var text in texts)
            foreach (var chunk in text.Split(Specials, StringSplitOptions.RemoveEmptyEntries))
                foreach (var word in Words(Space + chunk.Replace(" ", Space, StringComparison.Ordinal)))
                    words[word] = words.GetValueOrDefault(word) + 1;
        // Ordinal order makes the result independent of dictionary enumeration order.
        var entries = words.OrderBy(w => w.Key, StringComparer.Ordinal)
            .Select(w => (Symbols: Symbols(w.Key), Count: w.Value)).ToList();
        var chars = entries.SelectMany(e => e.Symbols.Select(s => (s, e.Count))).GroupBy(x => x.s, StringComparer.Ordinal)
            .Select(g => (Char: g.Key, Count: g.Sum(x => x.Count))).OrderByDescending(c => c.Count).ThenBy(c => c.Char, StringComparer.Ordinal).Select(c => c.Char).ToList();
        int fixedPieces = 3 + 256 + chars.Count;
        if (maxPieces < fixedPieces)
            throw new ArgumentException($"maxPieces {maxPieces} is below the {fixedPieces} pieces every vocabulary of this corpus needs (3 special, 256 bytes, {chars.Count} characters).", nameof(maxPieces));

        var merged = new List<string>();
        var known = new HashSet<string>(chars, StringComparer.Ordinal);
        while (fixedPieces + merged.Count < maxPieces)
        {
            var pairs = new Dictionary<(string, string), long>();
            foreach (var (symbols, count) in entries)
                for (int i = 0; i + 1 < symbols.Count; i++)
                    pairs[(symbols[i], symbols[i + 1])] = pairs.GetValueOrDefault((symbols[i], symbols[i + 1])) + count;
            var best = pairs.Where(p => p.Value >= minFrequency).OrderByDescending(p => p.Value)
                .ThenBy(p => p.Key.Item1, StringComparer.Ordinal).ThenBy(p => p.Key.Item2, StringComparer.Ordinal).Select(p => p.Key).FirstOrDefault();
            if (best == default) break;
            var piece = best.Item1 + best.Item2;
            if (known.Add(piece)) merged.Add(piece);
            foreach (var (symbols, _) in entries)
            {
                for (int i = 0; i + 1 < symbols.Count; i++)
                {
                    if (symbols[i] == best.Item1 && symbols[i + 1] == best.Item2)
                    {
                        symbols[i] = piece;
                        symbols.RemoveAt(i + 1);
                    }
                }
            }
        }

        var pieces = new List<SentencePiece>
        {
            new("<unk>", 0, SentencePieceModelWriter.Unknown),
            new("<s>", 0, SentencePieceModelWriter.Control),
            new("</s>", 0, SentencePieceModelWriter.Control),
        };
        pieces.AddRange(Enumerable.Range(0, 256).Select(b => new SentencePiece($"<0x{b:X2}>", 0, SentencePieceModelWriter.Byte)));
        pieces.AddRange(merged.Select((p, rank) => new SentencePiece(p, -rank, SentencePieceModelWriter.Normal)));
        pieces.AddRange(chars.Select((c, i) => new SentencePiece(c, -(merged.Count + i), SentencePieceModelWriter.Normal)));
        return pieces;
    }

    /// <summary>
    /// Trains on <paramref name="texts"/> and writes a LLaVA tokenizer folder: <c>tokenizer.model</c>, and the llava-hf
    /// <c>tokenizer_config.json</c>, <c>special_tokens_map.json</c> and <c>added_tokens.json</c> with
    /// <c>&lt;image&gt;</c> and <c>&lt;pad&gt;</c> added after the pieces.
    /// </summary>
    public static TrainedTokenizer WriteFolder(string directory, IEnumerable<string> texts, int maxPieces = 1024, int minFrequency = 2)
    {
        var pieces = Train(texts, maxPieces, minFrequency);
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, "tokenizer.model"), SentencePieceModelWriter.Serialize(pieces));
        var result = new TrainedTokenizer(pieces.Count, pieces.Count, pieces.Count + 1);

        var config = JsonNode.Parse(HfFolders.ReadTokenizerAsset("tokenizer_config.json"))!.AsObject();
        var decoder = config["added_tokens_decoder"]!.AsObject();
        var image = decoder[HfFolders.ImageTokenId.ToString(CultureInfo.InvariantCulture)]!.DeepClone();
        var pad = decoder[HfFolders.PadTokenId.ToString(CultureInfo.InvariantCulture)]!.DeepClone();
        decoder.Remove(HfFolders.ImageTokenId.ToString(CultureInfo.InvariantCulture));
        decoder.Remove(HfFolders.PadTokenId.ToString(CultureInfo.InvariantCulture));
        decoder[result.ImageTokenId.ToString(CultureInfo.InvariantCulture)] = image;
        decoder[result.PadTokenId.ToString(CultureInfo.InvariantCulture)] = pad;
        File.WriteAllText(Path.Combine(directory, "tokenizer_config.json"), config.ToJsonString(HfFolders.Indented));
        File.WriteAllText(Path.Combine(directory, "special_tokens_map.json"), HfFolders.ReadTokenizerAsset("special_tokens_map.json"));
        HfFolders.WriteJson(Path.Combine(directory, "added_tokens.json"), new Dictionary<string, int> { ["<image>"] = result.ImageTokenId, ["<pad>"] = result.PadTokenId });
        return result;
    }

    // Words start at each ▁; a line break is a word of its own (SentencePiece sees it as a character, not a space).
    static IEnumerable<string> Words(string normalized)
    {
        int start = 0;
        for (int i = 1; i <= normalized.Length; i++)
        {
            if (i == normalized.Length || normalized[i] == '\u2581' || normalized[i] == '\n' || normalized[i - 1] == '\n')
            {
                yield return normalized[start..i];
                start = i;
            }
        }
    }

    static List<string> Symbols(string word)
    {
        var symbols = new List<string>();
        foreach (var rune in word.EnumerateRunes()) symbols.Add(rune.ToString());
        return symbols;
    }
}
