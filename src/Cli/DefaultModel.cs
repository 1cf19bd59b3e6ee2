using LlavaModal.Abstractions;

namespace LlavaModal.Cli;

/// <summary>
/// The model the CLI uses when <c>--model</c> is omitted: the toy LLaVA model trained by <c>llava-modal recipe</c>
/// that ships in the repository (<c>models/llava-modal-toy/</c>) and is copied next to the CLI at build time.
/// </summary>
static class DefaultModel
{
    /// <summary>Folder name under the CLI's base directory (and under the repository's <c>models/</c>).</summary>
    public const string Name = "llava-modal-toy";

    /// <summary>Absolute path of the shipped model folder next to the CLI binary.</summary>
    public static string Path => System.IO.Path.Combine(AppContext.BaseDirectory, "models", Name);

    /// <summary>Folder name of the shipped audio toy model (the image toy model with a trained audio plugin): <c>eval --modality audio</c>'s default.</summary>
    public const string AudioName = "llava-modal-audio-toy";

    /// <summary>Absolute path of the shipped audio toy model next to the CLI binary.</summary>
    public static string AudioPath => System.IO.Path.Combine(AppContext.BaseDirectory, "models", AudioName);

    /// <summary><paramref name="model"/> when given, else the shipped audio toy model.</summary>
    public static string ResolveAudio(string? model)
    {
        if (!string.IsNullOrEmpty(model)) return model;
        if (!File.Exists(System.IO.Path.Combine(AudioPath, "config.json")))
            throw new LlavaModalException($"no --model given and the default audio model is missing from {AudioPath} (it ships in the repository's models/{AudioName}).");
        return AudioPath;
    }

    /// <summary>The sample image shipped with the model.</summary>
    public static string SampleImage => System.IO.Path.Combine(Path, "sample.png");

    /// <summary><paramref name="model"/> when given, else the shipped model (an error if the build does not carry it).</summary>
    public static string Resolve(string? model)
    {
        if (!string.IsNullOrEmpty(model)) return model;
        if (!File.Exists(System.IO.Path.Combine(Path, "config.json")))
            throw new LlavaModalException($"no --model given and the default model is missing from {Path} (it ships in the repository's models/{Name}).");
        return Path;
    }
}
