namespace LlavaModal.Benchmarks.Gguf;

/// <summary>
/// A SentencePiece-layout vocabulary of a given size for GGUF (<c>tokenizer.ggml.model = llama</c>): ids 0-2 are
/// &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, 3-258 the byte tokens &lt;0x00&gt;..&lt;0xFF&gt; (llama.cpp looks up the newline byte),
/// the rest distinct pieces <c>▁t{id}</c>. Benchmarks feed ids, so the pieces only need to be valid and distinct.
/// </summary>
static class SyntheticVocabulary
{
    /// <summary>The three special tokens and the 256 byte tokens.</summary>
    public const int Reserved = 3 + 256;

    // SentencePiece token types as GGUF stores them.
    const int Normal = 1, Unknown = 2, Control = 3, Byte = 6;

    public static void Add(GgufWriter gguf, int size)
    {
        var tokens = new string[size];
        var scores = new float[size];
        var types = new int[size];
        (tokens[0], types[0]) = ("<unk>", Unknown);
        (tokens[1], types[1]) = ("<s>", Control);
        (tokens[2], types[2]) = ("</s>", Control);
        for (int b = 0; b < 256; b++) (tokens[3 + b], types[3 + b]) = ($"<0x{b:X2}>", Byte);
        for (int id = Reserved; id < size; id++)
        {
            tokens[id] = "\u2581t" + id.ToString(System.Globalization.CultureInfo.InvariantCulture);
            scores[id] = -(id - Reserved);
            types[id] = Normal;
        }
        gguf.Add("tokenizer.ggml.model", "llama");
        gguf.Add("tokenizer.ggml.tokens", tokens);
        gguf.Add("tokenizer.ggml.scores", scores);
        gguf.Add("tokenizer.ggml.token_type", types);
        gguf.Add("tokenizer.ggml.unknown_token_id", 0u);
        gguf.Add("tokenizer.ggml.bos_token_id", 1u);
        gguf.Add("tokenizer.ggml.eos_token_id", 2u);
        gguf.Add("tokenizer.ggml.add_bos_token", true);
        gguf.Add("tokenizer.ggml.add_eos_token", false);
    }
}
