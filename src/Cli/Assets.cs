namespace LlavaModal.Cli;

/// <summary>Files that ship inside the CLI (the repository's SentencePiece tokenizer).</summary>
static class Assets
{
    static readonly string[] TokenizerFiles = ["tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"];

    public static void CopyTokenizer(string directory)
    {
        var assembly = typeof(Assets).Assembly;
        foreach (var name in TokenizerFiles)
        {
            using var stream = assembly.GetManifestResourceStream($"tokenizer/{name}")
                ?? throw new InvalidOperationException($"Embedded resource tokenizer/{name} is missing from the CLI build.");
            using var file = File.Create(Path.Combine(directory, name));
            stream.CopyTo(file);
        }
    }
}
